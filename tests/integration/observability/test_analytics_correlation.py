"""ClickHouse rows carry the request's correlation id and trace id, also in older data dirs.

A chdb session of its own (a process holds one at a time) with the sink's tables as they were
before the columns existed, one row already in them; ``create_schema`` must add the columns
without losing that row, and new rows must carry the ids of the event's envelope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import pytest

from nova.analytics_sink import AnalyticsSink
from nova.platform.analytics import ChdbClickHouse
from nova.platform.embedded import EmbeddedClickHouse
from nova.platform.events import Applying, StoredEvent

if TYPE_CHECKING:
    from pathlib import Path

    from nova.platform.db import Database

pytestmark = pytest.mark.integration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
#: The two tables as the sink created them before rows carried the request's ids.
BEFORE_IDS = (
    """
    CREATE TABLE engagement_events (
        event_id UUID, tenant_id String, event_type LowCardinality(String), post_id String,
        user_id String, author_id String, occurred_at DateTime64(6, 'UTC')
    ) ENGINE = ReplacingMergeTree ORDER BY (tenant_id, post_id, event_id)
    """,
    """
    CREATE TABLE feed_candidates (
        user_id String, created_at DateTime64(6, 'UTC'), post_id String, tenant_id String,
        visibility LowCardinality(String), deleted UInt8, version UInt64, event_id UUID
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (user_id, created_at, post_id)
    """,
)


def _published(post_id: str, *, correlation_id: str | None, trace_id: str | None) -> StoredEvent:
    now = dt.datetime.now(dt.UTC)
    return StoredEvent(
        seq=1,
        event_id=uuid.uuid4(),
        tenant_id="default",
        event_type="PostPublished",
        aggregate_type="post",
        aggregate_id=post_id,
        payload={
            "post_id": post_id,
            "author_id": "author-1",
            "created_at": now.isoformat(),
            "visibility": "public",
        },
        correlation_id=correlation_id,
        occurred_at=now,
        aggregate_version=1,
        trace_id=trace_id,
    )


async def test_rows_carry_the_request_ids_and_an_older_data_dir_keeps_working(
    tmp_path: Path, db: Database
) -> None:
    engine = EmbeddedClickHouse(tmp_path)
    engine.start()
    try:
        ch = ChdbClickHouse(engine.session)
        for ddl in BEFORE_IDS:
            await ch.command(ddl)
        await ch.insert(
            "engagement_events",
            [
                {
                    "event_id": str(uuid.uuid4()),
                    "tenant_id": "default",
                    "event_type": "Liked",
                    "post_id": "old-post",
                    "user_id": "u",
                    "author_id": "a",
                    "occurred_at": "2026-01-01 00:00:00",
                }
            ],
        )
        sink = AnalyticsSink(ch)

        await sink.create_schema()
        await sink.create_schema()  # every start runs it: a no-op the second time
        async with db.read(primary=True) as conn:
            applying = Applying(conn=conn, previous_version=None, attempt=1)
            await sink.record(
                _published(
                    "traced-post",
                    correlation_id="req-0123456789",
                    trace_id=f"00-{TRACE}-00f067aa0ba902b7-01",
                ),
                applying,
            )
            await sink.record(
                _published("untraced-post", correlation_id=None, trace_id=None), applying
            )

        engagement = await ch.query(
            "SELECT post_id, correlation_id, trace_id FROM engagement_events FINAL ORDER BY post_id"
        )
        candidates = await ch.query(
            "SELECT post_id, correlation_id, trace_id FROM feed_candidates FINAL ORDER BY post_id"
        )
    finally:
        engine.stop()

    assert engagement == [
        ["old-post", "", ""],
        ["traced-post", "req-0123456789", TRACE],
        ["untraced-post", "", ""],
    ]
    assert candidates == [["traced-post", "req-0123456789", TRACE], ["untraced-post", "", ""]]
