"""Helpers: write outbox events, read the stream back, a checking sink table."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from nova.platform.events import Applying, Consumer, Event, StoredEvent, envelope, outbox

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog

SINK_DDL = """
CREATE TABLE IF NOT EXISTS chk_sink (
    event_id uuid PRIMARY KEY, applied int NOT NULL, aggregate_id text, version bigint)
"""


def event(aggregate_id: str = "a", event_type: str = "Tested", **payload: object) -> Event:
    """A test event about ``aggregate_id``."""
    return Event(event_type, "thing", aggregate_id, "default", dict(payload))


async def write(db: Database, *events: Event) -> None:
    """Commit ``events`` in one transaction."""
    async with db.write() as conn:
        await outbox.append(conn, *events)


async def stream_events(log: RedisStreamLog) -> list[StoredEvent]:
    """Every event in the log, in log order."""
    entries: Any = await log.client.xrange(log.stream)
    return [envelope.decode(fields[b"e"]) for _id, fields in entries]


async def record(event: StoredEvent, applying: Applying) -> None:
    """Checking effect: count applications per event, in the consumer's transaction."""
    await applying.conn.execute(
        "INSERT INTO chk_sink VALUES ($1, 1, $2, $3)"
        " ON CONFLICT (event_id) DO UPDATE SET applied = chk_sink.applied + 1",
        uuid.UUID(str(event.event_id)),
        event.aggregate_id,
        event.aggregate_version,
    )


def sink_consumer(name: str = "chk", *types: str) -> Consumer:
    """A consumer applying :func:`record` to ``types`` (default ``Tested``)."""
    return Consumer(name=name, handlers={t: [record] for t in types or ("Tested",)})


async def sink_counts(db: Database) -> tuple[int, int]:
    """(distinct events applied, events applied more than once)."""
    async with db.read() as conn:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE applied > 1) AS dup FROM chk_sink"
        )
    assert row is not None
    return int(row["n"]), int(row["dup"])
