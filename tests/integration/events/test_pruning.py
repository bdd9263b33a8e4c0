"""Pruning the exact dedup store: expired rows go in batches; old replays are fenced or refused."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nova.platform.events import (
    Consumer,
    ConsumerPolicy,
    ConsumerRunner,
    Delivery,
    Relay,
    RelayPolicy,
)
from nova.platform.ids import new_id

from ._support import SINK_DDL, record, sink_counts, stream_events
from .test_consumer import stored

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog
    from nova.platform.testing import TestEngines

pytestmark = pytest.mark.integration

DAY = 86_400
FAST = ConsumerPolicy(batch_size=100, wait=0.05, redeliver_after=0.05, max_attempts=3)


async def _processed(db: Database) -> int:
    async with db.read(primary=True) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM processed_events"))


async def test_the_relay_prunes_expired_dedup_rows_in_batches_and_keeps_the_rest(
    db: Database, database_url: str, log: RedisStreamLog
) -> None:
    async with db.write() as conn:
        await conn.executemany(
            "INSERT INTO processed_events (consumer, event_id, processed_at)"
            " VALUES ($1, $2, now() - make_interval(secs => $3))",
            [("c", new_id(), 2.0 * DAY) for _ in range(25)]
            + [("c", new_id(), 0.5 * DAY) for _ in range(5)],
        )
    policy = RelayPolicy(dedup_retention=DAY, prune_batch=10)
    relay = Relay(dsn=database_url, log=log, policy=policy)
    try:
        await relay.prune()
        again = await relay.prune()
    finally:
        await relay.close()

    assert relay.stats.dedup_pruned == 25  # three batches: 10, 10, 5
    assert again == 0
    assert await _processed(db) == 5


@pytest.mark.parametrize(("fenced", "applied"), [(True, 1), (False, 2)])
async def test_a_replay_older_than_the_retention_is_stopped_only_by_the_fence(
    db: Database, database_url: str, log: RedisStreamLog, fenced: bool, applied: int
) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)
    consumer = Consumer(
        "chk", handlers={"Tested": [record]}, fenced=frozenset({"post"} if fenced else ())
    )
    runner = ConsumerRunner(consumer, db=db, log=log, policy=FAST)
    old = stored(aggregate_id="p1", version=1)
    await log.publish([old])
    await runner.drain()
    async with db.write() as conn:  # a month passes
        await conn.execute("UPDATE processed_events SET processed_at = now() - interval '30 days'")
    relay = Relay(dsn=database_url, log=log, policy=RelayPolicy(dedup_retention=14 * DAY))
    try:
        await relay.prune()
    finally:
        await relay.close()
    assert await _processed(db) == 0

    await log.publish([old])  # e.g. `nova events dlq replay` of that event for another group
    await runner.drain()

    n, _dup = await sink_counts(db)
    async with db.read(primary=True) as conn:
        times = await conn.fetchval(
            "SELECT applied FROM chk_sink WHERE event_id = $1", old.event_id
        )
    assert (n, times) == (1, applied)
    assert runner.stats.skipped_stale == (1 if fenced else 0)


async def test_dlq_replay_refuses_events_older_than_the_retention_without_force(
    log: RedisStreamLog, nova_engines: TestEngines, key_prefix: str
) -> None:
    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    fresh, old = stored(), dataclasses.replace(stored(), occurred_at=month_ago)
    for e in (fresh, old):
        await log.dead_letter("chk", Delivery(event=e, position="0-1", attempts=3), "boom")
    env = {
        **os.environ,
        "NOVA_REDIS_URL": nova_engines.redis_url,
        "NOVA_REDIS_KEY_PREFIX": key_prefix,
    }

    async def nova(*args: str) -> tuple[int | None, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "nova"),
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await nova("events", "dlq", "replay", "--all")
    left = [d.event.event_id for d in await log.dead_letters(limit=10)]
    forced = await nova("events", "dlq", "replay", "--all", "--force")

    assert (code, out.strip()) == (0, "replayed 1")
    assert f"{old.event_id} is older than the dedup retention" in err
    assert left == [old.event_id]
    assert (forced[0], forced[1].strip()) == (0, "replayed 1")
    assert await log.dead_letter_count() == 0
    replayed = [e.event_id for e in await stream_events(log)]
    assert replayed == [fresh.event_id, old.event_id]
