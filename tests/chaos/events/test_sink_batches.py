"""The analytics sink inserts a fetched batch with one INSERT per table, guarantees intact.

Real chdb throughout: :class:`CountingClickHouse` is the real client with a counter of the
``INSERT`` statements it is asked for (per table). A poison event is isolated without costing
the rest of its batch, and a ClickHouse outage (``DETACH TABLE``, as in
``test_clickhouse_down.py``) acknowledges nothing, after which every row lands exactly once.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest
from typing_extensions import override

from nova.analytics_sink import AnalyticsSink
from nova.platform import analytics
from nova.platform.events import ConsumerRunner, RedisStreamLog, StoredEvent

from ._harness import SINK_POLICY, sink_event

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import redis.asyncio as aioredis

    from nova.platform.db import Database

pytestmark = pytest.mark.integration


class CountingClickHouse(analytics.ClickHouse):
    """The real client, counting the INSERT statements asked of it per table (tried or not)."""

    def __init__(self, real: analytics.ClickHouse) -> None:
        self._real = real
        self.inserts: collections.Counter[str] = collections.Counter()

    @override
    async def command(self, sql: str) -> None:
        await self._real.command(sql)

    @override
    async def query(self, sql: str) -> list[list[Any]]:
        return await self._real.query(sql)

    @override
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.inserts[table] += 1
        await self._real.insert(table, rows)

    @override
    async def aclose(self) -> None:
        await self._real.aclose()


def _published(i: int) -> StoredEvent:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    return sink_event("PostPublished", i, created_at=created.isoformat())


def _served(i: int, *positions: int) -> StoredEvent:
    items = [{"post_id": f"post-{i}-{p}", "author_id": "a", "position": p} for p in positions]
    return sink_event("RecommendationsServed", i, items=items, source="recs")


async def _sink(clickhouse: Any) -> tuple[AnalyticsSink, CountingClickHouse]:
    ch = CountingClickHouse(analytics.connect("chdb:///unused", session=clickhouse))
    sink = AnalyticsSink(ch)
    await sink.create_schema()
    ch.inserts.clear()
    return sink, ch


async def _raw(ch: analytics.ClickHouse, table: str) -> tuple[int, int]:
    """``count(), uniqExact(event_id)`` without FINAL: a row inserted twice shows."""
    rows = await ch.query(f"SELECT count(), uniqExact(event_id) FROM {table}")  # noqa: S608  # test constant
    return int(rows[0][0]), int(rows[0][1])


async def _engagement_ids(ch: analytics.ClickHouse) -> list[str]:
    rows = await ch.query("SELECT toString(event_id) FROM engagement_events")
    return sorted(str(r[0]) for r in rows)


async def _until_dead_lettered(runner: ConsumerRunner, log: RedisStreamLog) -> None:
    for _ in range(100):
        await runner.run_once(wait=0.05)
        if await log.dead_letter_count():
            break
        await asyncio.sleep(SINK_POLICY.redeliver_after)
    await runner.drain()


async def test_a_fetched_batch_is_one_insert_per_table_and_every_row_lands(
    db: Database, redis_client: aioredis.Redis, key_prefix: str, clickhouse: Any
) -> None:
    sink, ch = await _sink(clickhouse)
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    runner = ConsumerRunner(sink.consumer(), db=db, log=log, policy=SINK_POLICY)
    liked = [sink_event("Liked", i) for i in range(30)]
    published = [_published(100 + i) for i in range(10)]
    served = [_served(200 + i, 0, 1) for i in range(10)]
    events = [e for pair in zip(liked, [*published, *served], strict=False) for e in pair]
    events += liked[20:]
    assert len(events) == 50

    await log.publish(events)
    assert await runner.run_once(wait=0.05) == 50  # one fetch, one batch

    assert ch.inserts == {"engagement_events": 1, "feed_candidates": 1, "recommendation_events": 1}
    assert await _raw(ch, "engagement_events") == (40, 40)
    assert await _engagement_ids(ch) == sorted(str(e.event_id) for e in [*liked, *published])
    assert await _raw(ch, "feed_candidates") == (10, 10)
    assert await _raw(ch, "recommendation_events") == (20, 10)  # two items per page
    assert (runner.stats.applied, runner.stats.failures) == (50, 0)
    assert await log.pending("analytics") == 0


async def test_a_malformed_event_is_rejected_alone_and_the_rest_of_its_batch_lands(
    db: Database, redis_client: aioredis.Redis, key_prefix: str, clickhouse: Any
) -> None:
    sink, ch = await _sink(clickhouse)
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    runner = ConsumerRunner(sink.consumer(), db=db, log=log, policy=SINK_POLICY)
    poison = sink_event("PostPublished", 99, created_at="not a timestamp")
    healthy = [sink_event("Liked", i) for i in range(49)]
    await log.publish([*healthy[:20], poison, *healthy[20:]])

    assert await runner.run_once(wait=0.05) == 50

    # The poison was left out of the batch's INSERT, not found by inserting event by event.
    assert ch.inserts == {"engagement_events": 1}
    assert runner.stats.rolled_back == 0
    assert await _raw(ch, "engagement_events") == (49, 49)
    assert (runner.stats.applied, runner.stats.failures) == (49, 1)
    assert await log.pending("analytics") == 1  # the poison, waiting for its next attempt

    await _until_dead_lettered(runner, log)

    dead = await log.dead_letters(limit=10)
    assert [(d.event.event_id, d.attempts) for d in dead] == [
        (poison.event_id, SINK_POLICY.max_attempts)
    ]
    assert dead[0].error.startswith("ValueError(")
    assert runner.stats.failures == SINK_POLICY.max_attempts
    assert await _engagement_ids(ch) == sorted(str(e.event_id) for e in healthy)
    assert await _raw(ch, "feed_candidates") == (0, 0)
    assert await log.pending("analytics") == 0


async def test_an_insert_clickhouse_refuses_is_isolated_event_by_event(
    db: Database, redis_client: aioredis.Redis, key_prefix: str, clickhouse: Any
) -> None:
    sink, ch = await _sink(clickhouse)
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    runner = ConsumerRunner(sink.consumer(), db=db, log=log, policy=SINK_POLICY)
    # Builds fine, but ClickHouse refuses it: position is a UInt32 ("must not contain '-'").
    refused = _served(99, 0, -1)
    healthy = [_served(i, 0) for i in range(20)]
    await log.publish([*healthy[:10], refused, *healthy[10:]])

    assert await runner.run_once(wait=0.05) == 21

    # The failed batch INSERT, then one per event to find the culprit.
    assert ch.inserts == {"recommendation_events": 1 + 21}
    assert runner.stats.rolled_back == 1
    assert await _raw(ch, "recommendation_events") == (20, 20)
    assert (runner.stats.applied, runner.stats.failures) == (20, 1)

    await _until_dead_lettered(runner, log)

    dead = await log.dead_letters(limit=10)
    assert [(d.event.event_id, d.attempts) for d in dead] == [
        (refused.event_id, SINK_POLICY.max_attempts)
    ]
    assert "CANNOT_PARSE_NUMBER" in dead[0].error
    assert await _raw(ch, "recommendation_events") == (20, 20)
    assert await log.pending("analytics") == 0


async def test_clickhouse_down_during_a_batch_acks_nothing_and_each_row_lands_once_after(
    db: Database, redis_client: aioredis.Redis, key_prefix: str, clickhouse: Any
) -> None:
    sink, ch = await _sink(clickhouse)
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    runner = ConsumerRunner(sink.consumer(), db=db, log=log, policy=SINK_POLICY)
    events = [sink_event("Liked", i) for i in range(40)] + [_published(100 + i) for i in range(10)]
    passes = SINK_POLICY.max_attempts + 2  # outlasts the attempts budget

    await ch.command("DETACH TABLE engagement_events")
    await log.publish(events)
    for _ in range(passes):
        assert await runner.run_once(wait=0.05) == 50
        assert runner.pause > 0  # backing off
    pending_during = await log.pending("analytics")

    assert pending_during == 50  # fetched every pass, acknowledged never
    assert await log.dead_letter_count() == 0
    assert runner.stats.failures == 0  # an outage is not counted against any event
    assert runner.stats.deferred == 50 * passes
    assert ch.inserts == {"engagement_events": passes}  # one batch INSERT tried per pass

    await ch.command("ATTACH TABLE engagement_events")
    ch.inserts.clear()
    await runner.drain()

    assert ch.inserts == {"engagement_events": 1, "feed_candidates": 1}
    assert await _raw(ch, "engagement_events") == (50, 50)  # not even a row waiting to merge
    assert await _engagement_ids(ch) == sorted(str(e.event_id) for e in events)
    assert await _raw(ch, "feed_candidates") == (10, 10)
    assert await sink.counts() == (50, 50)
    assert await log.pending("analytics") == 0
    assert await log.dead_letter_count() == 0
