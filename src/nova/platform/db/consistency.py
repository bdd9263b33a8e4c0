"""Read-your-writes: who is calling, where their last write ended, and who must use the primary.

After a caller's write commits, :class:`~nova.platform.db.Database` records the primary's WAL
position for that caller here. That caller's reads go to a replica only once the replica's
replayed position (measured by the health check) has passed it, else to the primary.

The caller is a key in a :class:`contextvars.ContextVar`: the gateway sets the user id (or the
session token for anonymous sessions) per request with :func:`caller`, so services keep their
signatures. Positions live in an in-process LRU (:class:`WritePositions`): a user's writes and
the reads that must see them are served by the same process in the single-process wiring, and
a process restart only loses positions older than any replica's lag. See docs/operations.md.

Background workers wrap their task in :func:`primary_only`: they act on what was just
committed (fan-out reads the follower list of a post that just committed) and must never see a
replica's past.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["WritePositions", "caller", "current_caller", "pinned_to_primary", "primary_only"]

_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("nova_db_caller", default=None)
_primary: contextvars.ContextVar[bool] = contextvars.ContextVar("nova_db_primary", default=False)


@contextlib.contextmanager
def caller(key: str | None) -> Iterator[None]:
    """Attribute the block's reads and writes to ``key`` (a user id or session token)."""
    token = _caller.set(key)
    try:
        yield
    finally:
        _caller.reset(token)


def current_caller() -> str | None:
    """The key set by :func:`caller`, or None."""
    return _caller.get()


@contextlib.contextmanager
def primary_only() -> Iterator[None]:
    """Send every read of the block (and of tasks created in it) to the primary."""
    token = _primary.set(True)
    try:
        yield
    finally:
        _primary.reset(token)


def pinned_to_primary() -> bool:
    """True inside :func:`primary_only`."""
    return _primary.get()


class WritePositions:
    """An LRU of ``caller -> WAL position (bytes) of their last committed write``.

    Entries expire after ``ttl`` seconds, far beyond the lag at which replicas are excluded.
    Bounded by ``capacity``: evicting a caller only risks a stale read if their write is
    also younger than the replicas' lag, and the capacity covers far more callers than write
    within one lag window.
    """

    def __init__(
        self,
        capacity: int = 100_000,
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._ttl = ttl
        self._clock = clock
        # key -> (lsn, recorded at); oldest first.
        self._positions: collections.OrderedDict[str, tuple[int, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._positions)

    def record(self, key: str, lsn: int) -> None:
        """Remember that ``key`` wrote up to ``lsn`` (positions only move forward)."""
        previous, _ = self._positions.pop(key, (0, 0.0))
        self._positions[key] = (max(previous, lsn), self._clock())
        if len(self._positions) > self._capacity:
            self._positions.popitem(last=False)

    def required(self, key: str | None, *, replayed_everywhere: int) -> int:
        """The position a replica must have replayed before ``key`` may read from it.

        Args:
            key: The caller, or None (no requirement).
            replayed_everywhere: The lowest replay position of the healthy replicas; an entry
                at or below it is fulfilled for good and dropped.
        """
        if key is None:
            return 0
        entry = self._positions.get(key)
        if entry is None:
            return 0
        lsn, recorded = entry
        # Past the TTL every healthy replica has replayed it: a replica lagging that far is
        # excluded by the health check long before.
        if lsn <= replayed_everywhere or self._clock() - recorded > self._ttl:
            del self._positions[key]
            return 0
        return lsn
