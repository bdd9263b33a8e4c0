"""Delivers committed outbox rows to in-process handlers, off the request path.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` in ``seq`` order, so a row whose transaction
commits late is picked up by a later pass instead of being skipped (a ``WHERE seq > last``
cursor would lose it), and several workers may run at once. Handlers must be idempotent:
delivery is at least once (a crash between handling and marking replays the batch).

This direct hand-off skips the event log; it serves tests and tools that want synchronous
delivery. ``nova up`` runs the relay and the consumers instead (:mod:`nova.platform.events.relay`,
:mod:`nova.platform.events.consumer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from nova.platform.events import _rows
from nova.platform.events.envelope import StoredEvent
from nova.platform.observability import handling

if TYPE_CHECKING:
    from nova.platform.db import Database

__all__ = ["Handler", "OutboxWorker", "StoredEvent"]

logger = logging.getLogger(__name__)


Handler = Callable[[StoredEvent], Awaitable[None]]

_CLAIM = f"""
SELECT {_rows.COLUMNS}
FROM outbox
WHERE published_at IS NULL
ORDER BY seq
LIMIT $1
FOR UPDATE SKIP LOCKED
"""  # noqa: S608  # a constant column list, no input


class OutboxWorker:
    """Claims unpublished outbox rows and hands each to the handlers of its type.

    Args:
        db: The database whose outbox to drain (the primary).
        handlers: Event type → handlers, called in order for each event.
        batch_size: Rows claimed per transaction.
        idle_interval: Seconds to sleep when the outbox is empty.
    """

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Sequence[Handler]],
        *,
        batch_size: int = 200,
        idle_interval: float = 0.02,
    ) -> None:
        self._db = db
        self._handlers = handlers
        self._batch_size = batch_size
        self._idle_interval = idle_interval
        self.delivered = 0

    async def run_once(self) -> int:
        """Deliver one batch; return how many events it held."""
        async with self._db.write() as conn:
            rows = await conn.fetch(_CLAIM, self._batch_size)
            for row in rows:
                event = _rows.to_event(row)
                with handling.handling(event, consumer="outbox-worker"):
                    for handler in self._handlers.get(event.event_type, ()):
                        await handler(event)
            if rows:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                    [r["seq"] for r in rows],
                )
        self.delivered += len(rows)
        return len(rows)

    async def drain(self) -> int:
        """Deliver until the outbox is empty; return the number delivered (tests, CLI)."""
        total = 0
        while n := await self.run_once():
            total += n
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, backing off on failures."""
        backoff = self._idle_interval
        while not stop.is_set():
            try:
                delivered = await self.run_once()
            except Exception:
                logger.exception("outbox delivery failed; retrying")
                backoff = min(backoff * 2, 5.0)
                delivered = 0
            else:
                backoff = self._idle_interval
            if not delivered:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
