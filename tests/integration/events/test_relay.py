"""Relay: late commits, per-aggregate order, concurrent writers, several relays, pruning."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import TYPE_CHECKING

import asyncpg
import pytest

from nova.platform.events import Relay, RelayPolicy, outbox

from ._support import event, stream_events, write

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog

pytestmark = pytest.mark.integration


async def test_a_row_that_commits_late_is_published_after_it_commits(
    db: Database, relay: Relay, log: RedisStreamLog
) -> None:
    late, early = event("x"), event("y")
    async with db.write() as slow:
        await outbox.append(slow, late)  # lower seq, still uncommitted
        await write(db, early)
        assert await relay.drain() == 1
    assert await relay.drain() == 1
    published = [e.event_id for e in await stream_events(log)]
    assert sorted(published) == sorted([late.event_id, early.event_id])


async def test_events_of_one_aggregate_are_published_in_version_order(
    db: Database, relay: Relay, log: RedisStreamLog
) -> None:
    async def writer(i: int) -> None:
        for _ in range(10):
            await write(db, event(f"agg-{i % 3}"))

    async with asyncio.TaskGroup() as group:
        for i in range(9):
            group.create_task(writer(i))
        group.create_task(relay.drain())
    await relay.drain()
    versions: dict[str, list[int]] = defaultdict(list)
    for e in await stream_events(log):
        versions[e.aggregate_id].append(e.aggregate_version)
    assert {k: len(v) for k, v in versions.items()} == {"agg-0": 30, "agg-1": 30, "agg-2": 30}
    for seen in versions.values():
        assert seen == list(range(1, 31))


async def test_every_row_of_50_writers_with_random_commit_delays_is_published(
    database_url: str, relay: Relay, log: RedisStreamLog
) -> None:
    rows_per_writer = 4
    stop = asyncio.Event()

    async def writer(i: int) -> list[str]:
        # Own connections: 50 open transactions at once is the point, not pool behaviour.
        conn = await asyncpg.connect(database_url)
        ids = []
        try:
            for j in range(rows_per_writer):
                e = event(f"w{i}-{j}")
                async with conn.transaction():
                    await outbox.append(conn, e)
                    await asyncio.sleep(random.uniform(0, 0.5))  # commit-order chaos
                ids.append(str(e.event_id))
        finally:
            await conn.close()
        return ids

    async with asyncio.TaskGroup() as group:
        relay_task = group.create_task(relay.run(stop))
        writers = [group.create_task(writer(i)) for i in range(50)]
        await asyncio.gather(*writers)
        for _ in range(100):
            if len(await stream_events(log)) >= 50 * rows_per_writer:
                break
            await asyncio.sleep(0.05)
        stop.set()
    assert relay_task.done()
    written = {i for w in writers for i in w.result()}
    published = [str(e.event_id) for e in await stream_events(log)]
    assert len(written) == 50 * rows_per_writer
    assert written - set(published) == set()


async def test_two_relays_split_partitions_and_publish_each_row_once(
    db: Database, database_url: str, relay: Relay, log: RedisStreamLog
) -> None:
    other = Relay(dsn=database_url, log=log, policy=RelayPolicy(batch_size=50))
    try:
        for i in range(20):
            await write(db, *(event(f"p{i}-{j}") for j in range(10)))
        await relay.publish_once()  # takes every free partition
        assert await other.publish_once() == 0  # nothing left to own: a standby
        await relay.drain()
        await relay.close()  # dies: its advisory locks go with its session
        await write(db, event("after"))
        assert await other.drain() == 1
    finally:
        await other.close()
    ids = [e.event_id for e in await stream_events(log)]
    assert len(ids) == len(set(ids)) == 201


async def test_published_rows_are_pruned_after_the_retention(
    db: Database, database_url: str, log: RedisStreamLog
) -> None:
    relay = Relay(dsn=database_url, log=log, policy=RelayPolicy(retention=0))
    try:
        await write(db, event(), event())
        async with db.write() as pending:
            await outbox.append(pending, event())
            assert await relay.drain() == 2
            assert await relay.prune() == 2
        assert await relay.prune() == 0  # the late row is not published yet: kept
        assert await relay.drain() == 1
    finally:
        await relay.close()
    async with db.read() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
