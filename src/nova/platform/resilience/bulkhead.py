"""Bulkhead: a concurrency limit with a bounded queue that fails fast beyond it.

A slow dependency must not take every task of the process with it: at most ``limit`` calls
run at once, at most ``queue`` more wait (each at most ``queue_timeout``), and anything beyond
is rejected at once with a retryable :class:`BulkheadFullError`.

Example:
    >>> recs = Bulkhead("recs", limit=8, queue=16)
    >>> # async with recs.slot(): await compute()
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["Bulkhead", "BulkheadFullError"]


class BulkheadFullError(errors.UnavailableError):
    """Too many calls to one dependency are running or waiting; rejected without queueing."""


class Bulkhead:
    """Bounded concurrency for one dependency.

    Args:
        name: Bounded label for errors and metrics.
        limit: Calls running at once.
        queue: Calls allowed to wait for a slot.
        queue_timeout: Seconds a queued call waits before it is rejected.
    """

    def __init__(
        self, name: str, *, limit: int, queue: int = 0, queue_timeout: float = 1.0
    ) -> None:
        self.name = name
        self._semaphore = asyncio.Semaphore(limit)
        self._queue = queue
        self._queue_timeout = queue_timeout
        self.active = 0
        self.waiting = 0
        self.rejected = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block.

        Raises:
            BulkheadFullError: no slot and the queue is full, or the wait timed out.
        """
        if self._semaphore.locked() and self.waiting >= self._queue:
            self.rejected += 1
            raise BulkheadFullError(
                f"{self.name} is saturated; retry shortly.", dependency=self.name
            )
        self.waiting += 1
        try:
            async with asyncio.timeout(self._queue_timeout):
                await self._semaphore.acquire()
        except TimeoutError as exc:
            self.rejected += 1
            raise BulkheadFullError(
                f"{self.name} stayed saturated; retry shortly.", dependency=self.name
            ) from exc
        finally:
            self.waiting -= 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
            self._semaphore.release()
