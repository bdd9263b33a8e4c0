"""The transactional outbox: events are rows written in the business transaction.

A use case calls :func:`append` on the connection of its ``db.write()`` block; the event
commits or rolls back with the change it describes. Delivery happens after commit (see
:mod:`nova.platform.events.worker`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    import asyncpg

    from nova.platform.events.envelope import Event

__all__ = ["append"]

_INSERT = """
INSERT INTO outbox (event_id, tenant_id, event_type, aggregate_type, aggregate_id, payload,
                    correlation_id, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)
"""


async def append(conn: asyncpg.Connection, *events: Event) -> None:
    """Write ``events`` to the outbox on ``conn``, which must be inside a transaction.

    Raises:
        RuntimeError: ``conn`` is not in a transaction (the event could outlive a rollback).
    """
    if not conn.is_in_transaction():
        raise RuntimeError("outbox.append needs the business transaction's connection")
    await conn.executemany(
        _INSERT,
        [
            (
                e.event_id,
                e.tenant_id,
                e.event_type,
                e.aggregate_type,
                e.aggregate_id,
                orjson.dumps(e.payload).decode(),
                e.correlation_id,
                e.occurred_at,
            )
            for e in events
        ],
    )
