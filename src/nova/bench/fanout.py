"""Publish-to-visible: time from ``publish_post`` until every follower's timeline holds it.

For each audience size a scratch database is created on the server (migrated, dropped after),
an author and N followers active right now are COPY-loaded, and each post is published through
the content service while the production event path runs in the background (outbox relay →
Redis Streams → the ``feed.fanout`` consumer, as in ``nova up``). The time is from the publish
call until the last followers' timelines hold the post (polled every 2 ms); then every
follower's timeline is checked.

Audiences above ``NOVA_FANOUT_FOLLOWER_THRESHOLD`` (10,000 by default) are not fanned out in
production: their posts are pulled at read time and so are visible at once. To measure the
write path anyway, the threshold is raised above N for the measurement (the report says so).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import time
from typing import TYPE_CHECKING, Any

import asyncpg

from nova.bench.stats import Latencies
from nova.content import LocalContentClient
from nova.feed import FanOut, build_timeline
from nova.feed.fanout import consumer
from nova.platform import cache
from nova.platform.cache import VersionedCache
from nova.platform.config import Settings
from nova.platform.context import Actor
from nova.platform.db import Database, PoolPolicy, migrate
from nova.platform.events import EventPipeline
from nova.platform.ids import new_id
from nova.platform.testing.engines import with_database
from nova.users.client import LocalUsersClient
from nova.users.service import UsersService

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    import redis.asyncio as aioredis

    from nova.feed.timeline import Timeline

__all__ = ["measure", "seed_audience"]

TENANT = "default"


async def seed_audience(url: str, followers: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """An author and ``followers`` followers active right now, by COPY."""
    conn = await asyncpg.connect(url)
    try:
        now = dt.datetime.now(dt.UTC).isoformat()
        ids = [new_id() for _ in range(followers + 1)]
        users = "".join(
            f"{uid},{TENANT},f_{i:07d},f_{i:07d}@bench.invalid,!,{now}\n"
            for i, uid in enumerate(ids)
        )
        await conn.copy_to_table(
            "users",
            source=io.BytesIO(users.encode()),
            columns=["id", "tenant_id", "username", "email", "password_hash", "last_active_at"],
            format="csv",
        )
        author, fans = ids[0], ids[1:]
        edges = "".join(f"{TENANT},{f},{author}\n" for f in fans)
        await conn.copy_to_table(
            "follows",
            source=io.BytesIO(edges.encode()),
            columns=["tenant_id", "follower_id", "followee_id"],
            format="csv",
        )
        await conn.execute("UPDATE users SET follower_count = $2 WHERE id = $1", author, len(fans))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return author, fans


async def _all_hold(
    redis: aioredis.Redis, timeline: Timeline, followers: list[uuid.UUID], member: str
) -> bool:
    pipe = redis.pipeline(transaction=False)
    for follower in followers:
        pipe.zscore(timeline.key(follower), member)  # type: ignore[unused-awaitable]  # queued
    return all(score is not None for score in await pipe.execute())


async def measure(
    *,
    database_url: str,
    redis_url: str,
    followers: int,
    posts: int,
    warmup: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Publish ``posts`` posts to ``followers`` followers; the publish-to-visible figures.

    Raises:
        RuntimeError: a timeline missed a post (fan-out incomplete).
    """
    name = f"nova_bench_fanout_{os.getpid()}_{followers}"
    admin = await asyncpg.connect(database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(database_url, name)
    prefix = f"bench:{os.getpid()}:{followers}:"
    redis = cache.connect(redis_url, timeout=10.0)
    db: Database | None = None
    threshold = Settings().fanout_follower_threshold
    try:
        await migrate.upgrade(url)
        author, fans = await seed_audience(url, followers)
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            redis_key_prefix=prefix,
            fanout_follower_threshold=max(followers + 1, threshold),
        )
        db = await Database.connect(url, policy=PoolPolicy(size=5, command_timeout=120))
        users = LocalUsersClient(
            UsersService(db, settings=settings, cache=VersionedCache(redis, prefix=prefix))
        )
        content = LocalContentClient.build(db=db, users=users)
        timeline = build_timeline(redis, settings)
        # The production path: relay → Redis Streams → the feed.fanout consumer, running in
        # the background exactly as in `nova up`.
        pipeline = EventPipeline.build(
            settings,
            db=db,
            consumers=[consumer(FanOut(db=db, users=users, timeline=timeline, settings=settings))],
        )
        stop = asyncio.Event()
        runner = asyncio.create_task(pipeline.run(stop))
        actor = Actor.user(author, tenant_id=TENANT)
        visible = Latencies()
        # Fan-out pages followers in id order; the last ones are the last to be pushed.
        probes = sorted(fans)[-64:]
        try:
            for i in range(warmup + posts):
                started = time.perf_counter()
                post = await content.publish_post(actor, body=f"bench post {i}")
                member = str(post.id)
                # Polling is the measurement: visibility is observed from outside, as a
                # reader would, not signalled by the consumer.
                while not await _all_hold(redis, timeline, probes, member):  # noqa: ASYNC110
                    await asyncio.sleep(0.002)
                elapsed = time.perf_counter() - started
                if not await _all_hold(redis, timeline, fans, member):
                    raise RuntimeError("fan-out incomplete: a timeline misses the post")
                if i >= warmup:
                    visible.record_seconds(elapsed)
        finally:
            stop.set()
            await runner
            await pipeline.aclose()
        summary = visible.summary()
        log(
            f"{followers:>7} followers: p50 {summary.p50:.0f} ms  p99 {summary.p99:.0f} ms"
            f"  max {summary.max:.0f} ms ({posts} posts)"
        )
        return {
            "followers": followers,
            "posts": posts,
            "p50_ms": summary.p50,
            "p99_ms": summary.p99,
            "max_ms": summary.max,
            "threshold_raised": followers > threshold,
            "production_threshold": threshold,
        }
    finally:
        if db is not None:
            await db.close()
        keys = [k async for k in redis.scan_iter(match=prefix + "*", count=5000)]
        for start in range(0, len(keys), 5000):
            await redis.delete(*keys[start : start + 5000])
        await redis.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
