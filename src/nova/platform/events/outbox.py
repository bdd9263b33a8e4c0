"""The transactional outbox: events are rows written in the business transaction.

A use case calls :func:`append` on the connection of its ``db.write()`` block; the event
commits or rolls back with the change it describes. The relay publishes committed rows to the
event log (:mod:`nova.platform.events.relay`).

Each row gets the next version of its aggregate from ``aggregate_versions`` in the same
statement. That upsert row-locks the aggregate until commit, so two transactions writing one
aggregate commit in version order and ``seq`` order equals commit order per aggregate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from nova.platform.observability import handling

if TYPE_CHECKING:
    import asyncpg

    from nova.platform.events.envelope import Event

__all__ = ["append"]

_INSERT = """
WITH v AS (
    INSERT INTO aggregate_versions AS a (aggregate_type, aggregate_id, version)
    VALUES ($4, $5, COALESCE($11::bigint, 1))
    ON CONFLICT (aggregate_type, aggregate_id)
    DO UPDATE SET version = GREATEST(a.version + 1, COALESCE($11::bigint, 0))
    RETURNING version
)
INSERT INTO outbox (event_id, tenant_id, event_type, aggregate_type, aggregate_id, payload,
                    correlation_id, occurred_at, trace_id, schema_version, aggregate_version)
SELECT $1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, v.version FROM v
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
                handling.stamp(e.trace_id),
                e.schema_version,
                e.aggregate_version,
            )
            for e in events
        ],
    )
