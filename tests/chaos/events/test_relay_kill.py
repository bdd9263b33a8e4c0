"""RELIABILITY row 1: relay ``kill -9`` repeatedly while events are written."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from nova.platform.events import ConsumerPolicy, ConsumerRunner, RedisStreamLog, outbox
from tests.integration.events._support import SINK_DDL, event, sink_consumer

from ._harness import check, kill, start_relay, unpublished

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.db import Database
    from nova.platform.testing import TestEngines

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("events", "kills"), [(1_000, 4), pytest.param(10_000, 20, marks=pytest.mark.slow)]
)
async def test_relay_kill_9_loses_and_duplicates_nothing(
    db: Database,
    database_url: str,
    redis_client: aioredis.Redis,
    key_prefix: str,
    nova_engines: TestEngines,
    events: int,
    kills: int,
) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    runner = ConsumerRunner(sink_consumer(), db=db, log=log, policy=ConsumerPolicy(wait=0.05))
    acked: set[str] = set()
    stop = asyncio.Event()
    life = 1.2  # seconds each relay lives: ~1 s of start-up, then it is killed mid-batch
    published_at_kill: list[int] = []

    async def writer() -> None:
        for i in range(0, events, 10):
            batch = [event(f"a{(i + j) % 50}") for j in range(10)]
            async with db.write() as conn:
                await outbox.append(conn, *batch)
            acked.update(str(e.event_id) for e in batch)
            # Spread the writes over every relay's life, so kills land mid-stream.
            await asyncio.sleep(kills * life / (events / 10))

    async def killer() -> None:
        for _ in range(kills):
            relay = await start_relay(database_url, nova_engines.redis_url, key_prefix)
            await asyncio.sleep(life)
            await kill(relay)
            async with db.read() as conn:
                published_at_kill.append(
                    await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
                    )
                )

    async with asyncio.TaskGroup() as group:
        consumer = group.create_task(runner.run(stop))
        await asyncio.gather(writer(), killer())
        relay = await start_relay(database_url, nova_engines.redis_url, key_prefix)
        try:
            async with asyncio.timeout(60):
                while await unpublished(db) or await runner.drain():  # noqa: ASYNC110  # polling state in PostgreSQL
                    await asyncio.sleep(0.1)
        finally:
            await kill(relay)
            stop.set()
    assert consumer.done()

    assert len(acked) == events
    assert sum(0 < n < events for n in published_at_kill) >= kills // 2, published_at_kill
    assert await check(db, acked, set()) == {"lost": 0, "unexpected": 0, "duplicated": 0}
    assert await log.pending("chk") == 0
