"""The composition root of the single-process wiring: every service, its clients and workers.

``nova up`` and the tests build one :class:`Runtime` inside a lifespan. Nothing here connects
at import time; :func:`open_runtime` opens the pools, builds users → content → feed with their
in-process clients, and runs the event pipeline (outbox relay → Redis Streams → fan-out, post
counters, audit and analytics-sink consumers) and the scheduled recommendation precompute until
the block exits.

ClickHouse: the runtime holds the process's one client (:attr:`Runtime.clickhouse`); for
``chdb://`` URLs that is the session shared with the embedded engine and ``/healthz``
(:mod:`nova.platform.analytics.shared`). Without ``NOVA_CLICKHOUSE_URL`` the sink does not
run and recommendations always serve the chronological fallback.

Example:
    >>> async with open_runtime(settings) as rt:           # doctest: +SKIP
    ...     page = await rt.feed.home_feed(actor, limit=20)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from nova.analytics_sink import AnalyticsSink
from nova.content.client import LocalContentClient
from nova.feed import fanout
from nova.feed.client import LocalFeedClient, build_timeline
from nova.platform import analytics, cache
from nova.platform.config import Settings
from nova.platform.db import Database, consistency
from nova.platform.events import Consumer, EventPipeline, audit
from nova.recs import jobs as recs_jobs
from nova.recs.client import LocalRecsClient
from nova.users import handlers as users_handlers
from nova.users.client import LocalUsersClient, UsersClient
from nova.users.service import UsersService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


__all__ = ["Runtime", "create_sink_schema", "open_runtime"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Runtime:
    """The live services of one process."""

    settings: Settings
    db: Database
    redis: aioredis.Redis
    users_service: UsersService
    users_cache: cache.VersionedCache
    users: LocalUsersClient
    content: LocalContentClient
    feed: LocalFeedClient
    events: EventPipeline
    recs: LocalRecsClient
    clickhouse: analytics.ClickHouse | None = None


def _require(value: object, name: str) -> str:
    if value is None:
        raise RuntimeError(f"{name} is unset: start the engines (nova.platform.embedded) first")
    return str(value)


def core_consumers(
    settings: Settings,
    *,
    db: Database,
    redis: aioredis.Redis,
    users_service: UsersService,
    users: UsersClient,
) -> list[Consumer]:
    """The event consumers every wiring runs: fan-out, profile counters and the audit store.

    ``nova up`` runs them in its one process; ``nova up --processes`` in the users process.
    """
    fan_out = fanout.FanOut(
        db=db, users=users, timeline=build_timeline(redis, settings), settings=settings
    )
    return [fanout.consumer(fan_out), users_handlers.consumer(users_service), audit.consumer()]


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, *, run_worker: bool = True) -> AsyncIterator[Runtime]:
    """Open pools, build the services and (optionally) run the event pipeline meanwhile.

    Args:
        settings: With ``database_url`` and ``redis_url`` resolved (embedded or external).
        run_worker: Run the event pipeline (relay and consumers) in the background.
    """
    database_url = _require(
        settings.database_url and settings.database_url.get_secret_value(), "NOVA_DATABASE_URL"
    )
    redis_url = _require(
        settings.redis_url and settings.redis_url.get_secret_value(), "NOVA_REDIS_URL"
    )
    redis = cache.connect(redis_url, timeout=settings.redis_timeout)
    try:
        # Read-your-writes positions go through Redis: other processes serve this caller too.
        db = await Database.from_settings(settings, url=database_url, redis=redis)
    except BaseException:
        await redis.aclose()
        raise
    events: EventPipeline | None = None
    clickhouse: analytics.ClickHouse | None = None
    try:
        clickhouse = await _open_clickhouse(settings)
        versioned = cache.VersionedCache(redis, prefix=settings.redis_key_prefix)
        users_service = UsersService(db, settings=settings, cache=versioned)
        users = LocalUsersClient(users_service)
        content = LocalContentClient.build(db=db, users=users)
        feed = LocalFeedClient.build(
            db=db, redis=redis, users=users, content=content, settings=settings
        )
        consumers = core_consumers(
            settings, db=db, redis=redis, users_service=users_service, users=users
        )
        if clickhouse is not None:
            sink = AnalyticsSink(clickhouse)
            await create_sink_schema(sink)
            consumers.append(sink.consumer())
        events = EventPipeline.build(settings, db=db, consumers=consumers)
        recs = LocalRecsClient.build(
            clickhouse=clickhouse or analytics.UnavailableClickHouse(),
            redis=redis,
            db=db,
            users=users,
            content=content,
            feed=feed,
            settings=settings,
        )
        runtime = Runtime(
            settings,
            db,
            redis,
            users_service,
            versioned,
            users,
            content,
            feed,
            events,
            recs,
            clickhouse,
        )
        if not run_worker:
            yield runtime
            return
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            # Workers act on what just committed: never on a replica's past.
            with consistency.primary_only():
                group.create_task(events.run(stop))
                if clickhouse is not None and settings.recs_precompute_schedule:
                    group.create_task(recs_jobs.run_schedule(recs, settings, stop))
            try:
                yield runtime
            finally:
                stop.set()
    finally:
        if events is not None:
            await events.aclose()
        if clickhouse is not None:
            await clickhouse.aclose()
        await redis.aclose()
        await db.close()


async def _open_clickhouse(settings: Settings) -> analytics.ClickHouse | None:
    """The process's ClickHouse client, or None when ``NOVA_CLICKHOUSE_URL`` is unset."""
    if settings.clickhouse_url is None:
        return None
    return await analytics.open_client(settings.clickhouse_url.get_secret_value())


async def create_sink_schema(sink: AnalyticsSink) -> None:
    """Create the sink's tables; a ClickHouse that is down now only delays the sink."""
    try:
        await sink.create_schema()
    except Exception as exc:  # noqa: BLE001  # the sink's inserts retry; start-up goes on
        logger.warning(
            "analytics tables not created: ClickHouse unavailable",
            extra={"error.type": type(exc).__name__},
        )
