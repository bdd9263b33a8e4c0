"""Consumers: Bloom never drops, duplicates and reordering, dead letters, takeover, trimming."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import TYPE_CHECKING

import pytest
from prometheus_client import REGISTRY

from nova.platform.events import (
    Applying,
    BloomFilter,
    BloomPolicy,
    Consumer,
    ConsumerPolicy,
    ConsumerRunner,
    EventHandler,
    StoredEvent,
)
from nova.platform.ids import new_id

from ._support import SINK_DDL, record, sink_consumer, sink_counts

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog

pytestmark = pytest.mark.integration

FAST = ConsumerPolicy(batch_size=500, wait=0.05, redeliver_after=0.05, max_attempts=3)


def stored(
    event_type: str = "Tested", aggregate_id: str = "a", version: int = 1, **payload: object
) -> StoredEvent:
    return StoredEvent(
        seq=0,
        event_id=new_id(),
        tenant_id="default",
        event_type=event_type,
        aggregate_type="post",
        aggregate_id=aggregate_id,
        payload=dict(payload),
        correlation_id=None,
        occurred_at=dt.datetime.now(dt.UTC),
        aggregate_version=version,
    )


async def _sink_table(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)


@pytest.mark.parametrize("n", [2_000, pytest.param(10_000, marks=pytest.mark.slow)])
async def test_a_tiny_bloom_filter_drops_no_distinct_event(
    db: Database, log: RedisStreamLog, redis_client: aioredis.Redis, key_prefix: str, n: int
) -> None:
    await _sink_table(db)
    tiny = BloomPolicy(capacity=500, error_rate=0.05, rotation=3600)
    bloom = BloomFilter(redis_client, name=f"{key_prefix}bloom", policy=tiny)
    runner = ConsumerRunner(sink_consumer(), db=db, log=log, bloom=bloom, policy=FAST)
    events = [stored(aggregate_id=str(i)) for i in range(n)]
    for i in range(0, len(events), 1000):
        await log.publish(events[i : i + 1000])

    await runner.drain()

    assert await sink_counts(db) == (n, 0)
    assert runner.stats.bloom_maybe / n >= 0.05  # saturated: FP rate >= 5 %, all confirmed
    assert runner.stats.false_positives == runner.stats.bloom_maybe
    assert runner.stats.duplicates == 0
    assert await log.pending("chk") == 0


def _projector(run: str) -> EventHandler:
    async def project(event: StoredEvent, applying: Applying) -> None:
        state = {"Created": "live", "Edited": "edited", "Deleted": "deleted"}[event.event_type]
        await applying.conn.execute(
            "INSERT INTO chk_state VALUES ($1, $2, $3) ON CONFLICT (run, post)"
            " DO UPDATE SET state = EXCLUDED.state",
            run,
            event.aggregate_id,
            state,
        )

    return project


def _history(posts: int) -> list[StoredEvent]:
    events = []
    for p in range(posts):
        kinds = ["Created", "Edited", "Deleted"][: 1 + p % 3]
        events += [stored(k, f"p{p}", v + 1) for v, k in enumerate(kinds)]
    return events


def _shuffled(events: list[StoredEvent], window: int) -> list[StoredEvent]:
    rng = random.Random(6)
    out: list[StoredEvent] = []
    for i in range(0, len(events), window):
        chunk = events[i : i + window]
        rng.shuffle(chunk)
        out += chunk
    return out


async def test_double_and_shuffled_delivery_reach_the_in_order_state(
    db: Database, log: RedisStreamLog
) -> None:
    async with db.write() as conn:
        await conn.execute(
            "CREATE TABLE chk_state (run text, post text, state text, PRIMARY KEY (run, post))"
        )
    base = _history(150)
    runs = {
        "ordered": base,
        "double": [e for e in base for _ in (0, 1)],
        "shuffled": _shuffled(base, 50),
        "double_shuffled": _shuffled([e for e in base for _ in (0, 1)], 50),
        "reversed": base[::-1],  # every create after its delete: none may resurrect
    }
    for run, events in runs.items():
        handlers = {t: [_projector(run)] for t in ("Created", "Edited", "Deleted")}
        consumer = Consumer(name=f"proj-{run}", handlers=handlers, fenced=frozenset({"post"}))
        await log.publish(events)
        await ConsumerRunner(consumer, db=db, log=log, policy=FAST).drain()

    async with db.read() as conn:
        rows = await conn.fetch("SELECT run, post, state FROM chk_state")
    states: dict[str, dict[str, str]] = {run: {} for run in runs}
    for r in rows:
        states[r["run"]][r["post"]] = r["state"]
    expected = {f"p{p}": ["live", "edited", "deleted"][p % 3] for p in range(150)}
    assert states["ordered"] == expected
    for run in runs:
        assert states[run] == expected, run


async def test_a_poison_event_is_dead_lettered_with_its_error_and_can_be_replayed(
    db: Database, log: RedisStreamLog
) -> None:
    await _sink_table(db)
    healthy = {"now": False}

    async def fragile(event: StoredEvent, applying: Applying) -> None:
        if event.payload.get("poison") and not healthy["now"]:
            raise ValueError("cannot digest this")
        await record(event, applying)

    consumer = Consumer(name="chk", handlers={"Tested": [fragile]})
    runner = ConsumerRunner(consumer, db=db, log=log, policy=FAST)
    await log.publish([stored(), stored(poison=True), stored()])
    for _ in range(20):
        await runner.run_once(wait=0.05)
        if await log.dead_letters(limit=10):
            break
        await asyncio.sleep(0.06)

    dead = await log.dead_letters(limit=10)
    assert len(dead) == 1
    assert dead[0].error == "ValueError('cannot digest this')"
    assert dead[0].attempts == FAST.max_attempts
    assert await sink_counts(db) == (2, 0)
    assert await log.pending("chk") == 0

    healthy["now"] = True
    assert await log.replay_dead_letter(dead[0].position) is not None
    await runner.drain()
    assert await sink_counts(db) == (3, 0)
    assert await log.dead_letters(limit=10) == []


async def test_a_crashed_members_deliveries_are_taken_over(
    db: Database, log: RedisStreamLog
) -> None:
    await _sink_table(db)
    await log.ensure_group("chk")
    await log.publish([stored() for _ in range(30)])
    taken = await log.fetch("chk", "dead-member", limit=30, wait=0.05, redeliver_after=60)
    assert len(taken) == 30  # delivered, never acknowledged: the member "died"

    survivor = ConsumerRunner(sink_consumer(), db=db, log=log, policy=FAST, member="survivor")
    await asyncio.sleep(FAST.redeliver_after)
    await survivor.drain()

    assert await sink_counts(db) == (30, 0)
    assert await log.pending("chk") == 0


async def test_trimming_keeps_every_entry_a_group_has_not_acknowledged(
    db: Database, log: RedisStreamLog
) -> None:
    await _sink_table(db)
    for group in ("fast", "slow"):
        await log.ensure_group(group)
    await log.publish([stored() for _ in range(20)])
    fast = await log.fetch("fast", "m", limit=20, wait=0.05, redeliver_after=60)
    await log.ack("fast", [d.position for d in fast])
    slow = await log.fetch("slow", "m", limit=10, wait=0.05, redeliver_after=60)
    await log.ack("slow", [d.position for d in slow[:5]])  # 5..9 pending, 10..19 undelivered

    trimmed = await log.compact()

    assert trimmed == 5
    # Redelivery claims entries idle for at least 1 ms (XAUTOCLAIM's floor here): on a fast
    # box the compaction can finish sooner, and the fetch would read the new entries instead.
    await asyncio.sleep(0.01)
    remaining = await log.fetch("slow", "m2", limit=50, wait=0.05, redeliver_after=0.0)
    assert [d.event.event_id for d in remaining] == [d.event.event_id for d in slow[5:]]
    rest = await log.fetch("slow", "m2", limit=50, wait=0.05, redeliver_after=60)
    assert len(rest) == 10
    await log.ack("slow", [d.position for d in [*remaining, *rest]])
    assert await log.compact() == 15


async def test_other_types_are_acknowledged_without_bloom_work_or_a_transaction(
    db: Database, log: RedisStreamLog, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    await _sink_table(db)
    policy = BloomPolicy(capacity=10_000, error_rate=0.001, rotation=3600)
    bloom = BloomFilter(redis_client, name=f"{key_prefix}bloom", policy=policy)
    runner = ConsumerRunner(sink_consumer(), db=db, log=log, bloom=bloom, policy=FAST)
    ours = [stored(aggregate_id=str(i)) for i in range(3)]
    others = [stored("Other", aggregate_id=str(i)) for i in range(5)]
    labels = {"consumer": "chk", "event_type": "Other", "outcome": "skipped"}
    before = REGISTRY.get_sample_value("nova_events_handled_total", labels) or 0.0
    await log.publish([*others[:2], *ours, *others[2:]])

    await runner.drain()

    assert await sink_counts(db) == (3, 0)
    assert await log.pending("chk") == 0  # every delivery acknowledged, ours and the others
    assert REGISTRY.get_sample_value("nova_events_handled_total", labels) == before + 5
    assert runner.stats.bloom_new == 3  # only this consumer's events were looked up
    assert await bloom.maybe_contains([e.event_id.bytes for e in ours]) == [True] * 3
    assert await bloom.maybe_contains([e.event_id.bytes for e in others]) == [False] * 5
