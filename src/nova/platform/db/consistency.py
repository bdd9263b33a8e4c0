"""Read-your-writes: who is calling, where their last write ended, and who must use the primary.

After a caller's write commits, :class:`~nova.platform.db.Database` records the primary's WAL
position for that caller in :class:`CallerPositions`. That caller's reads go to a replica only
once the replica's replayed position (measured by the health check) has passed it, else to the
primary.

The caller is a key in a :class:`contextvars.ContextVar` set with :func:`caller`, so services
keep their signatures: the gateway sets the user id for signed-in users and a per-request key
(``request:<correlation id>``) for an anonymous mutation, and RPC metadata carries it to every
service the request reaches. A user id, not a session: the same person on two devices must see their
own writes on both, and Nova has no anonymous session to key on (an anonymous caller's writes,
such as sign-up, are tracked for the request and handed back to the client instead).

Positions live in Redis (``rw:{<key>}``, TTL a bit above the replica lag threshold) shared by
every process of the deployment, in front of an in-process LRU (:class:`WritePositions`): a
write served by the content process must steer the next read served by the users process.
Redis failing never fails a write (the position is kept in the local LRU); a read whose
caller's position cannot be read from Redis goes to the primary. Without Redis (tests, tools)
the local LRU alone is the store, which is exact when one process serves everything.

A position may also arrive with the request (:func:`read_after`): the gateway returns the
position after a write in the ``X-Nova-Read-After`` response header and accepts it back, and
RPC metadata passes it on, so a client or another service can ask for reads at least that
fresh without sharing the caller key.

Background workers wrap their task in :func:`primary_only`: they act on what was just
committed (fan-out reads the follower list of a post that just committed) and must never see a
replica's past. See docs/operations.md.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import logging
import time
from typing import TYPE_CHECKING

from nova.platform import cache, errors
from nova.platform.db.replicas import ReplicaPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import redis.asyncio as aioredis

    from nova.platform.config import Settings

__all__ = [
    "UNKNOWN_POSITION",
    "CallerPositions",
    "WritePositions",
    "caller",
    "current_caller",
    "current_read_after",
    "parse_position",
    "pinned_to_primary",
    "primary_only",
    "read_after",
]

logger = logging.getLogger(__name__)

#: Required of a caller whose position is unknown (their write's position could not be read,
#: or Redis could not be asked): no replica ever reaches it, so their reads use the primary.
UNKNOWN_POSITION = 1 << 62

#: Largest position accepted from a client or from RPC metadata (a PostgreSQL LSN is 64 bits).
_MAX_POSITION = (1 << 63) - 1

_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("nova_db_caller", default=None)
_primary: contextvars.ContextVar[bool] = contextvars.ContextVar("nova_db_primary", default=False)
_read_after: contextvars.ContextVar[int] = contextvars.ContextVar("nova_db_read_after", default=0)

# Positions only move forward; the TTL is refreshed either way.
_RECORD = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


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


@contextlib.contextmanager
def read_after(position: int) -> Iterator[None]:
    """Serve the block's reads from a replica only once it has replayed ``position``.

    Nested blocks keep the highest position; 0 adds no requirement.
    """
    token = _read_after.set(max(_read_after.get(), position))
    try:
        yield
    finally:
        _read_after.reset(token)


def current_read_after() -> int:
    """The position set by :func:`read_after` (0 when none)."""
    return _read_after.get()


def parse_position(raw: str | None, *, field: str) -> int:
    """A WAL position sent by a client or a peer (decimal bytes), 0 when absent or empty.

    Raises:
        errors.InvalidInputError: not a non-negative decimal integer below 2**63.
    """
    if raw is None or not raw.strip():
        return 0
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _MAX_POSITION:
        raise errors.InvalidInputError(
            f"{field} must be a position returned by Nova (a decimal number); send it back "
            "unchanged or omit it.",
            field=field,
        )
    return int(text)


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

    def peek(self, key: str) -> int | None:
        """``key``'s recorded position, if any (expired or not)."""
        entry = self._positions.get(key)
        return entry[0] if entry is not None else None

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


class CallerPositions:
    """Callers' write positions shared through Redis, in front of the process's LRU.

    Args:
        redis: A fail-fast client (:func:`nova.platform.cache.connect`), or None for the
            local LRU alone (one process, or no Redis).
        prefix: Redis key prefix of the deployment.
        ttl: Seconds a position is kept in Redis: a bit above the lag at which replicas are
            excluded, after which every replica still serving has replayed it.
        local: This process's LRU (a fresh one when omitted).

    Example:
        >>> positions = CallerPositions(redis, prefix="nova:", ttl=3.5)   # doctest: +SKIP
        >>> await positions.record("user-1", 1234)                         # doctest: +SKIP
        >>> await positions.required("user-1", replayed_everywhere=1000)   # doctest: +SKIP
        1234
    """

    def __init__(
        self,
        redis: aioredis.Redis | None = None,
        *,
        prefix: str = "",
        ttl: float = 5.0,
        local: WritePositions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl_ms = max(1, round(ttl * 1000))
        self._ttl = ttl
        self._clock = clock
        self.local = local or WritePositions(clock=clock)
        self._record = redis.register_script(_RECORD) if redis is not None else None
        # Until then, positions recorded while Redis failed may be missing from it.
        self._doubtful_until = 0.0
        #: Redis calls that failed (record or lookup); each one was answered safely.
        self.redis_failures = 0

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: aioredis.Redis | None) -> CallerPositions:
        """The deployment's store: Redis keys under the prefix, kept as long as replicas lag.

        Without replicas (``NOVA_DATABASE_REPLICA_URLS`` unset) every read goes to the primary
        and no position matters: the store stays local, and costs no Redis round trip.
        """
        ttl = ReplicaPolicy.from_settings(settings).position_ttl
        shared = redis if settings.replica_urls else None
        return cls(shared, prefix=settings.redis_key_prefix, ttl=ttl)

    @property
    def shared(self) -> bool:
        """True when positions are shared with other processes through Redis."""
        return self._redis is not None

    def _key(self, key: str) -> str:
        # Hash tag: one caller's key maps to one Redis Cluster slot.
        return f"{self._prefix}rw:{{{key}}}"

    def _failed(self, what: str, exc: BaseException) -> None:
        self.redis_failures += 1
        self._doubtful_until = self._clock() + self._ttl
        logger.warning(
            "read-your-writes position %s failed in Redis; falling back",
            what,
            extra={"error.type": type(exc).__name__},
        )

    async def record(self, key: str, lsn: int) -> None:
        """Remember that ``key`` wrote up to ``lsn``; never raises for Redis failures.

        The write has committed: failing its caller now would invite a duplicate retry. When
        Redis cannot take the position this process still knows it.
        """
        self.local.record(key, lsn)
        if self._record is None:
            return
        try:
            await self._record(keys=[self._key(key)], args=[str(lsn), self._ttl_ms])
        except cache.REDIS_ERRORS as exc:
            self._failed("record", exc)

    async def required(self, key: str | None, *, replayed_everywhere: int) -> int:
        """The position a replica must have replayed before ``key`` may read from it.

        :data:`UNKNOWN_POSITION` (the primary) when Redis cannot say, or failed recently:
        the caller may have written through another process.

        Args:
            key: The caller, or None (no requirement).
            replayed_everywhere: The lowest replay position of the healthy replicas; a
                position at or below it is fulfilled.
        """
        if key is None:
            return 0
        local = self.local.required(key, replayed_everywhere=replayed_everywhere)
        if self._redis is None:
            return local
        shared = await self._shared(key)
        if shared is None or self._clock() < self._doubtful_until:
            return UNKNOWN_POSITION
        return max(local, shared if shared > replayed_everywhere else 0)

    async def latest(self, key: str) -> int | None:
        """``key``'s last known write position, for handing to clients; None if unknown."""
        local = self.local.peek(key)
        shared = await self._shared(key) if self._redis is not None else None
        known = [p for p in (local, shared) if p]
        position = max(known) if known else None
        return position if position is not None and position < UNKNOWN_POSITION else None

    async def _shared(self, key: str) -> int | None:
        """The position in Redis (0 when none), or None when Redis failed."""
        if self._redis is None:  # pragma: no cover - callers check
            return 0
        try:
            raw = await self._redis.get(self._key(key))
        except cache.REDIS_ERRORS as exc:
            self._failed("lookup", exc)
            return None
        return int(raw) if raw else 0
