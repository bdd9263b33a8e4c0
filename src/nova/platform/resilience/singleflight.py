"""Singleflight: identical concurrent loads run once and every caller gets the result.

Cancellation rules (DESIGN.md invariant 6): the shared work runs in its own task, so
cancelling the caller that started it does not cancel it for the others; it is cancelled only
when every waiter has left. A failure is shared by the callers waiting at the time and then
forgotten, so the next call tries again.

When a call finishes, ``nova_singleflight_waiters{name}`` observes how many callers shared
it (1: nothing was deduplicated).

Example:
    >>> flights: Singleflight[str, bytes] = Singleflight(name="recs.lists")
    >>> # body = await flights.do("recs:" + uid, lambda: compute(uid))
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Generic, TypeVar

from nova.platform.observability import metrics

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable

__all__ = ["Singleflight"]

K = TypeVar("K", bound="Hashable")
V = TypeVar("V")


class _Flight(Generic[V]):
    __slots__ = ("callers", "task", "waiters")

    def __init__(self, task: asyncio.Task[V]) -> None:
        self.task = task
        self.waiters = 0
        #: Every caller that joined, including those that left (the metric's value).
        self.callers = 0


class Singleflight(Generic[K, V]):
    """Deduplicates concurrent calls per key.

    Args:
        name: Metric label of this singleflight, fixed by code (``recs.lists``).
    """

    def __init__(self, *, name: str = "unnamed") -> None:
        self._flights: dict[K, _Flight[V]] = {}
        self._waiters = metrics.SINGLEFLIGHT_WAITERS.labels(name)

    def in_flight(self, key: K) -> bool:
        """True while a load for ``key`` is running."""
        return key in self._flights

    async def do(self, key: K, fn: Callable[[], Awaitable[V]]) -> V:
        """Return ``fn()``'s result, sharing one running call per ``key``.

        Raises:
            Exception: whatever the shared call raised, to every caller waiting on it.
            asyncio.CancelledError: when this caller is cancelled (others keep waiting).
        """
        flight = self._flights.get(key)
        if flight is None:
            flight = _Flight(asyncio.ensure_future(fn()))
            self._flights[key] = flight
            flight.task.add_done_callback(functools.partial(self._forget, key, flight))
        flight.waiters += 1
        flight.callers += 1
        try:
            # shield: our cancellation must not reach the shared task.
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                # The last waiter leaves: nobody wants the result any more. Forget the flight
                # now so a caller arriving before the task finishes starts a fresh one.
                flight.task.cancel()
                if self._flights.get(key) is flight:
                    del self._flights[key]
            raise
        finally:
            flight.waiters -= 1

    def _forget(self, key: K, flight: _Flight[V], _task: object) -> None:
        self._waiters.observe(flight.callers)
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.task.cancelled():
            # Retrieve the exception so a failure nobody awaited is not logged as lost.
            flight.task.exception()
