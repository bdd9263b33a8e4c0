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
    published_at_kill: list[int] = []

    async def published() -> int:
        async with db.read() as conn:
            return int(
                await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
            )

    async def write(i: int) -> None:
        batch = [event(f"a{(i + j) % 50}") for j in range(10)]
        async with db.write() as conn:
            await outbox.append(conn, *batch)
        acked.update(str(e.event_id) for e in batch)

    async def writer_and_killer() -> None:
        # No fixed lifetimes: a relay's start-up time depends on the machine's load. Each
        # relay is killed once it is publishing, right after the last write of its share, so
        # every kill lands mid-stream.
        share = events // kills
        for k in range(kills):
            relay = await start_relay(database_url, nova_engines.redis_url, key_prefix)
            before = await published()
            await write(k * share)
            async with asyncio.timeout(30):
                while await published() <= before:  # noqa: ASYNC110  # polling PostgreSQL
                    await asyncio.sleep(0.02)
            for i in range(k * share + 10, (k + 1) * share, 10):
                await write(i)
                await asyncio.sleep(0.005)
            await kill(relay)
            published_at_kill.append(await published())

    async with asyncio.TaskGroup() as group:
        consumer = group.create_task(runner.run(stop))
        await writer_and_killer()
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
