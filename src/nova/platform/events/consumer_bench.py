r"""Measure consumer throughput: events applied per second by one runner, per transaction mode.

Publishes ``events`` envelopes to a fresh stream and times one :class:`ConsumerRunner` draining
them with a Bloom filter and a PostgreSQL effect (one upsert per event, in the claim's
transaction), first with one transaction per event, then with one per fetched batch. Run it
against servers you own; the database must be migrated (``nova db upgrade``)::

    python -m nova.platform.events.consumer_bench postgresql://postgres@127.0.0.1/nova \\
        redis://127.0.0.1:6379/0 --events 5000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from nova.platform.db import Database, PoolPolicy
from nova.platform.events.bloom import BloomFilter, BloomPolicy
from nova.platform.events.consumer import Applying, Consumer, ConsumerPolicy, ConsumerRunner
from nova.platform.events.envelope import StoredEvent
from nova.platform.events.redis_log import RedisStreamLog
from nova.platform.ids import new_id

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["BenchResult", "Drained", "drain", "measure"]

_TABLE = "bench_consumer_effect"


@dataclasses.dataclass(frozen=True, slots=True)
class BenchResult:
    """One timed drain."""

    batched: bool
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        """Events applied per second."""
        return self.events / self.seconds


async def _effect(event: StoredEvent, applying: Applying) -> None:
    await applying.conn.execute(
        f"INSERT INTO {_TABLE} VALUES ($1, $2) ON CONFLICT (aggregate_id)"  # noqa: S608  # constant
        f" DO UPDATE SET n = {_TABLE}.n + 1",
        event.aggregate_id,
        1,
    )


def _events(n: int) -> list[StoredEvent]:
    now = dt.datetime.now(dt.UTC)
    return [
        StoredEvent(
            seq=i,
            event_id=new_id(),
            tenant_id="default",
            event_type="BenchApplied",
            aggregate_type="bench",
            aggregate_id=f"a{i % 500}",
            payload={"i": i},
            correlation_id=None,
            occurred_at=now,
            aggregate_version=0,
        )
        for i in range(n)
    ]


@dataclasses.dataclass(frozen=True, slots=True)
class Drained:
    """What one timed drain applied, in how long (wall clock and this process's CPU)."""

    events: int
    seconds: float
    cpu_seconds: float


async def drain(
    consumer: Consumer,
    events: Sequence[StoredEvent],
    *,
    db: Database,
    redis: aioredis.Redis,
    batch_size: int = 100,
) -> Drained:
    """Publish ``events`` to a fresh stream and time one runner of ``consumer`` draining it.

    The stream, its Bloom filter and the consumer's exact-store rows are removed afterwards.
    """
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    log = RedisStreamLog(redis, prefix=prefix, block_cap=0.2)
    bloom = BloomFilter(redis, name=f"{prefix}bloom", policy=BloomPolicy())
    policy = ConsumerPolicy(batch_size=batch_size, wait=0.05)
    runner = ConsumerRunner(consumer, db=db, log=log, bloom=bloom, policy=policy)
    try:
        await log.ensure_group(consumer.name)
        for i in range(0, len(events), 1_000):
            await log.publish(events[i : i + 1_000])
        started, cpu = time.perf_counter(), time.process_time()
        applied = await runner.drain()
        return Drained(applied, time.perf_counter() - started, time.process_time() - cpu)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1_000)]
        if keys:
            await redis.delete(*keys)
        async with db.write() as conn:
            await conn.execute("DELETE FROM processed_events WHERE consumer = $1", consumer.name)


async def measure(
    db: Database, redis: aioredis.Redis, *, events: int, batched: bool, batch_size: int = 100
) -> BenchResult:
    """Drain ``events`` fresh events through one runner; return the time it took."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(name, handlers={"BenchApplied": [_effect]}, batched=batched)
    async with db.write() as conn:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_TABLE} (aggregate_id text PRIMARY KEY, n bigint)"
        )
    done = await drain(consumer, _events(events), db=db, redis=redis, batch_size=batch_size)
    return BenchResult(batched=batched, events=done.events, seconds=done.seconds)


async def _main(args: argparse.Namespace) -> None:
    db = await Database.connect(args.database_url, policy=PoolPolicy(size=4))
    redis = aioredis.Redis.from_url(args.redis_url, socket_timeout=5)
    try:
        for batched in (False, True):
            result = await measure(db, redis, events=args.events, batched=batched)
            mode = "one transaction per batch" if batched else "one transaction per event"
            print(  # noqa: T201  # a command-line report
                f"{mode:>27}: {result.events} events in {result.seconds:.2f} s"
                f" = {result.rate:,.0f} events/s"
            )
        async with db.write() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {_TABLE}")
    finally:
        await redis.aclose()
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("redis_url")
    parser.add_argument("--events", type=int, default=5_000)
    asyncio.run(_main(parser.parse_args()))
