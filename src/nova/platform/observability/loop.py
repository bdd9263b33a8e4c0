"""Event-loop lag: how long ready callbacks waited because other work held the loop.

A timer asks to wake after ``interval``; it wakes late by however long CPU-bound or blocking
code kept the loop busy (DESIGN invariant 11). That lateness goes to
``nova_event_loop_lag_seconds``. Sampling twice a second costs nothing measurable.

Example:
    >>> async with monitoring(interval=0.5):   # doctest: +SKIP
    ...     await serve()
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from nova.platform.observability import metrics

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["DEFAULT_INTERVAL", "monitoring", "watch"]

#: Seconds between samples.
DEFAULT_INTERVAL = 0.5


async def watch(stop: asyncio.Event, *, interval: float = DEFAULT_INTERVAL) -> None:
    """Record the loop's lag every ``interval`` seconds until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            return
        metrics.EVENT_LOOP_LAG.observe(max(0.0, loop.time() - started - interval))


@contextlib.asynccontextmanager
async def monitoring(*, interval: float = DEFAULT_INTERVAL) -> AsyncIterator[None]:
    """Run :func:`watch` for the duration of the block."""
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(watch(stop, interval=interval))
        try:
            yield
        finally:
            stop.set()
