r"""Fan-out benchmark: time from publish to the post sitting in every active follower's timeline.

Creates a scratch database on the given server (migrated, dropped afterwards), seeds an author
with N active followers by COPY, then for each of ``--posts`` posts: publish through the content
service, drain the outbox worker (which runs the feed's fan-out handler), and verify every
follower's timeline holds the post. Prints p50 / p99 / max of publish -> full fan-out.

Usage::

    .venv/bin/python bench/fanout.py --followers 5000 \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING

import asyncpg

from nova.content import LocalContentClient
from nova.feed import FanOut, build_timeline, handlers
from nova.platform import cache
from nova.platform.cache import VersionedCache
from nova.platform.config import Settings
from nova.platform.context import Actor
from nova.platform.db import Database, PoolPolicy, migrate
from nova.platform.events import OutboxWorker
from nova.platform.ids import new_id
from nova.platform.testing.engines import with_database
from nova.users.client import LocalUsersClient
from nova.users.service import UsersService

if TYPE_CHECKING:
    import uuid

TENANT = "default"


async def seed(url: str, followers: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """An author and ``followers`` followers active right now, by COPY."""
    conn = await asyncpg.connect(url)
    try:
        now = dt.datetime.now(dt.UTC)
        ids = [new_id() for _ in range(followers + 1)]
        await conn.copy_records_to_table(
            "users",
            columns=["id", "tenant_id", "username", "email", "password_hash", "last_active_at"],
            records=[
                (uid, TENANT, f"b_{i:07d}", f"b_{i:07d}@bench.test", "!", now)
                for i, uid in enumerate(ids)
            ],
        )
        author, fans = ids[0], ids[1:]
        await conn.copy_records_to_table(
            "follows",
            columns=["tenant_id", "follower_id", "followee_id"],
            records=[(TENANT, f, author) for f in fans],
        )
        await conn.execute("UPDATE users SET follower_count = $2 WHERE id = $1", author, len(fans))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return author, fans


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    name = f"nova_bench_fanout_{os.getpid()}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(args.database_url, name)
    prefix = f"bench:{os.getpid()}:"
    redis = cache.connect(args.redis_url, timeout=5.0)
    db: Database | None = None
    try:
        await migrate.upgrade(url)
        author, fans = await seed(url, args.followers)
        settings = Settings(
            database_url=url,
            redis_url=args.redis_url,
            redis_key_prefix=prefix,
            fanout_follower_threshold=max(args.followers + 1, 10_000),
        )
        db = await Database.connect(url, policy=PoolPolicy(size=5, command_timeout=30))
        users = LocalUsersClient(
            UsersService(db, settings=settings, cache=VersionedCache(redis, prefix=prefix))
        )
        content = LocalContentClient.build(db=db, users=users)
        timeline = build_timeline(redis, settings)
        fan_out = FanOut(db=db, users=users, timeline=timeline, settings=settings)
        worker = OutboxWorker(db, handlers(fan_out))
        actor = Actor.user(author, tenant_id=TENANT)
        timings: list[float] = []
        for i in range(args.warmup + args.posts):
            started = time.perf_counter()
            post = await content.publish_post(actor, body=f"bench post {i}")
            await worker.drain()
            elapsed = time.perf_counter() - started
            pipe = redis.pipeline(transaction=False)
            queued = [pipe.zscore(timeline.key(f), str(post.id)) for f in fans]
            held = sum(score is not None for score in await pipe.execute())
            if held != len(queued):
                raise SystemExit(f"fan-out incomplete: {held}/{len(fans)} timelines hold the post")
            if i >= args.warmup:
                timings.append(elapsed)
        ms = [t * 1000 for t in timings]
        sys.stdout.write(
            f"fan-out to {len(fans)} active followers, {len(ms)} posts: "
            f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
            f"max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms "
            f"(publish + outbox drain; every timeline verified)\n"
        )
    finally:
        if db is not None:
            await db.close()
        keys = [k async for k in redis.scan_iter(match=prefix + "*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=5000)
    parser.add_argument("--posts", type=int, default=20, help="measured posts")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured posts first")
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server (any db)")
    parser.add_argument("--redis-url", required=True)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
