"""Outbox rows to envelopes (shared by the relay and the in-process worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from nova.platform.events.envelope import StoredEvent

if TYPE_CHECKING:
    import asyncpg

#: The outbox columns :func:`to_event` reads, for SELECT lists.
COLUMNS = (
    "seq, event_id, tenant_id, event_type, aggregate_type, aggregate_id, payload::text AS payload,"
    " correlation_id, occurred_at, aggregate_version, trace_id, schema_version"
)


def to_event(row: asyncpg.Record) -> StoredEvent:
    """The envelope of one outbox row selected with :data:`COLUMNS`."""
    return StoredEvent(
        seq=row["seq"],
        event_id=row["event_id"],
        tenant_id=row["tenant_id"],
        event_type=row["event_type"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        payload=orjson.loads(row["payload"]),
        correlation_id=row["correlation_id"],
        occurred_at=row["occurred_at"],
        aggregate_version=row["aggregate_version"],
        trace_id=row["trace_id"],
        schema_version=row["schema_version"],
    )
