"""RELIABILITY row 16: ClickHouse unavailable under the analytics sink.

The fault is the real engine failing: the sink's table is detached (``DETACH TABLE``), so every
insert and the sink's probe fail inside chdb exactly as they would with the table gone on a
server, and ``ATTACH TABLE`` is the recovery. Pass criterion: nothing is acknowledged or
dead-lettered during the fault, however many passes it outlasts; afterwards
``count() = uniqExact(event_id) = N`` with every published id present, and a poison event reaches
the dead-letter stream after exactly ``max_attempts`` tries without holding the others back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from nova.analytics_sink import AnalyticsSink
from nova.platform import analytics
from nova.platform.events import (
    BloomFilter,
    BloomPolicy,
    ConsumerRunner,
    RedisStreamLog,
)

from ._harness import SINK_POLICY, sink_event

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.db import Database

pytestmark = pytest.mark.integration


async def _ids(ch: analytics.ClickHouse) -> list[str]:
    rows = await ch.query("SELECT toString(event_id) FROM engagement_events")
    return sorted(str(r[0]) for r in rows)


@pytest.mark.parametrize(
    ("n", "outage"), [(300, 2.0), pytest.param(5_000, 30.0, marks=pytest.mark.slow)]
)
async def test_a_clickhouse_outage_acks_nothing_and_loses_or_duplicates_nothing(
    db: Database,
    redis_client: aioredis.Redis,
    key_prefix: str,
    clickhouse: Any,
    n: int,
    outage: float,
) -> None:
    ch = analytics.connect("chdb:///unused", session=clickhouse)
    sink = AnalyticsSink(ch)
    await sink.create_schema()
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    bloom = BloomFilter(redis_client, name=f"{key_prefix}bloom", policy=BloomPolicy())
    runner = ConsumerRunner(sink.consumer(), db=db, log=log, bloom=bloom, policy=SINK_POLICY)
    before = [sink_event("Liked", i, post=i % 25, version=0) for i in range(n // 3)]
    during = [sink_event("Liked", i, post=i % 25, version=0) for i in range(n - len(before))]
    await log.publish(before)
    await runner.drain()
    assert await sink.counts() == (len(before), len(before))

    await ch.command("DETACH TABLE engagement_events")
    await log.publish(during)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(outage)  # many times max_attempts x redeliver_after
    stop.set()
    await task
    pending_during = await log.pending("analytics")
    dead_during = await log.dead_letter_count()
    deferred_passes = runner.stats.deferred // SINK_POLICY.batch_size

    await ch.command("ATTACH TABLE engagement_events")
    for _ in range(100):
        await runner.drain()
        if not await log.pending("analytics") and await log.lag("analytics") in (0, None):
            break
        await asyncio.sleep(SINK_POLICY.redeliver_after)

    assert deferred_passes > SINK_POLICY.max_attempts  # the fault outlasted the attempts budget
    assert dead_during == 0
    assert pending_during == min(len(during), SINK_POLICY.batch_size)  # fetched, none acknowledged
    assert runner.stats.failures == 0  # an outage is not counted against any event
    published = sorted(str(e.event_id) for e in [*before, *during])
    assert await sink.counts() == (n, n)
    raw = await ch.query("SELECT count(), uniqExact(event_id) FROM engagement_events")
    assert [int(x) for x in raw[0]] == [n, n]  # not even a row waiting for a merge
    assert await _ids(ch) == published
    assert await log.pending("analytics") == 0
    assert await log.dead_letter_count() == 0


async def test_a_poison_event_is_dead_lettered_after_k_tries_and_holds_nothing_back(
    db: Database, redis_client: aioredis.Redis, key_prefix: str, clickhouse: Any
) -> None:
    ch = analytics.connect("chdb:///unused", session=clickhouse)
    sink = AnalyticsSink(ch)
    await sink.create_schema()
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    runner = ConsumerRunner(sink.consumer(), db=db, log=log, policy=SINK_POLICY)
    poison = sink_event("PostPublished", 0, version=0, created_at="not a timestamp")
    healthy = [sink_event("Liked", i, post=i % 25, version=0) for i in range(20)]
    await log.publish([healthy[0], poison, *healthy[1:]])

    for _ in range(100):
        await runner.run_once(wait=0.05)
        if await log.dead_letter_count():
            break
        await asyncio.sleep(SINK_POLICY.redeliver_after)
    await runner.drain()

    dead = await log.dead_letters(limit=10)
    assert [(d.event.event_id, d.attempts) for d in dead] == [
        (poison.event_id, SINK_POLICY.max_attempts)
    ]
    assert dead[0].error.startswith("ValueError(")
    assert await sink.counts() == (20, 20)  # the poison wrote nothing, the rest everything
    assert await log.pending("analytics") == 0
