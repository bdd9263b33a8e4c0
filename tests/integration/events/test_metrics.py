"""Pipeline metrics move: published, consumer lag, dedup by kind, dead letters (count and gauge)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from nova.platform.events import (
    Applying,
    BloomFilter,
    BloomPolicy,
    Consumer,
    ConsumerPolicy,
    ConsumerRunner,
    EventPipeline,
    Relay,
    RelayPolicy,
    StoredEvent,
)
from nova.platform.observability import metrics

from ._support import SINK_DDL, event, record, stream_events, write

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog

pytestmark = pytest.mark.integration

NAME = "chk_metrics"
FAST = ConsumerPolicy(batch_size=500, wait=0.05, redeliver_after=0.05, max_attempts=3)


def _counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _gauges() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = await metrics.scrape()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(body.decode())
        for s in f.samples
        if s.name in {"nova_events_consumer_lag", "nova_events_dead_letters"}
    }


def _lag(gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float], state: str) -> float | None:
    return gauges.get(("nova_events_consumer_lag", (("consumer", NAME), ("state", state))))


async def _poison(event: StoredEvent, applying: Applying) -> None:
    if event.payload.get("poison"):
        raise ValueError("cannot digest this")
    await record(event, applying)


async def test_published_lag_dedup_and_dead_letter_metrics_move(
    db: Database,
    database_url: str,
    log: RedisStreamLog,
    redis_client: aioredis.Redis,
    key_prefix: str,
) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)
    # Two bits, one hash: after the first batch every probe is a "maybe" (deterministically).
    tiny = BloomFilter(
        redis_client, name=f"{key_prefix}bloom", policy=BloomPolicy(capacity=1, error_rate=0.5)
    )
    runner = ConsumerRunner(
        Consumer(NAME, handlers={"Tested": [_poison]}), db=db, log=log, bloom=tiny, policy=FAST
    )
    relay = Relay(dsn=database_url, log=log, policy=RelayPolicy(poll_interval=0.05))
    pipeline = EventPipeline(log=log, relay=relay, runners=[runner])
    pipeline.export_metrics()
    info = await redis_client.info("server")
    reports_lag = int(str(info["redis_version"]).split(".")[0]) >= 7
    before = {
        "published": _counter("nova_events_published_total"),
        "dead": _counter("nova_events_dead_lettered_total", consumer=NAME),
        **{
            kind: _counter("nova_events_dedup_total", consumer=NAME, kind=kind)
            for kind in metrics.DEDUP_KINDS
        },
    }
    try:
        await log.ensure_group(NAME)
        await write(db, *[event(f"a{i}") for i in range(30)], event("p", poison=True))

        assert await relay.drain() == 31
        published = await _gauges()
        await runner.run_once(wait=0.05)  # 30 applied, the poison pending with its error
        consumed = await _gauges()
        await log.publish((await stream_events(log))[:2])  # a redelivered pair
        await write(db, *[event(f"b{i}") for i in range(3)])  # new, but "maybe" to the filter
        assert await relay.drain() == 3
        for _ in range(50):  # the poison is retried until it is dead-lettered
            await asyncio.sleep(FAST.redeliver_after)
            await runner.run_once(wait=0.05)
            if await log.dead_letter_count():
                break
        await runner.drain()
        drained = await _gauges()
    finally:
        await relay.close()

    assert _counter("nova_events_published_total") - before["published"] == 34
    assert _lag(published, "pending") == 0
    assert _lag(consumed, "pending") == 1
    assert _lag(drained, "pending") == 0
    if reports_lag:  # XINFO GROUPS has no lag before Redis 7
        assert _lag(published, "undelivered") == 31
        assert _lag(consumed, "undelivered") == 0
    assert drained[("nova_events_dead_letters", ())] == 1
    assert published[("nova_events_dead_letters", ())] == 0
    assert _counter("nova_events_dead_lettered_total", consumer=NAME) - before["dead"] == 1
    moved = {
        kind: _counter("nova_events_dedup_total", consumer=NAME, kind=kind) - before[kind]
        for kind in metrics.DEDUP_KINDS
    }
    # First batch: an empty filter says "new" to all 31. Then the filter is full: the three
    # later events are "maybe" but new (false positives, applied), the redelivered pair is
    # confirmed. The poison's retries commit nothing, so they count in neither.
    assert moved == {"bloom_new": 31, "false_positive": 3, "confirmed_duplicate": 2}
