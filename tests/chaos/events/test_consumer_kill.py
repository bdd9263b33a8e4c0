"""RELIABILITY row 4: a consumer ``kill -9`` after k of n events, repeatedly."""

from __future__ import annotations

import asyncio
import random
import sys
from typing import TYPE_CHECKING

import pytest

from nova.platform.events import ConsumerPolicy, ConsumerRunner, RedisStreamLog
from tests.integration.events._support import SINK_DDL, sink_consumer, sink_counts
from tests.integration.events.test_consumer import stored

from ._harness import check, kill

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.db import Database
    from nova.platform.testing import TestEngines

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("n", "runs"), [(400, 3), pytest.param(2_000, 20, marks=pytest.mark.slow)])
async def test_consumer_kill_9_loses_and_duplicates_nothing(
    db: Database,
    database_url: str,
    redis_client: aioredis.Redis,
    key_prefix: str,
    nova_engines: TestEngines,
    n: int,
    runs: int,
) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)
    log = RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.2)
    events = [stored() for _ in range(n)]
    await log.publish(events)
    rng = random.Random(4)
    for run in range(runs):
        done, _ = await sink_counts(db)
        k = min(n, done + rng.randint(1, max(1, n // runs)))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.chaos.events._consumer_proc",
            database_url,
            nova_engines.redis_url,
            key_prefix,
            f"member-{run}",
        )
        try:
            async with asyncio.timeout(30):
                while (await sink_counts(db))[0] < k:  # noqa: ASYNC110  # polling state in PostgreSQL
                    await asyncio.sleep(0.01)
        finally:
            await kill(proc)

    survivor = ConsumerRunner(
        sink_consumer(), db=db, log=log, policy=ConsumerPolicy(wait=0.05, redeliver_after=0.2)
    )
    async with asyncio.timeout(60):
        while (await sink_counts(db))[0] < n or await log.pending("chk"):
            await survivor.run_once(wait=0.05)
            await asyncio.sleep(0.05)

    acked = {str(e.event_id) for e in events}
    assert await check(db, acked, set()) == {"lost": 0, "unexpected": 0, "duplicated": 0}
    assert await log.pending("chk") == 0
