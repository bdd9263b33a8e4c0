"""The process wiring: one OS process per service, clients speaking gRPC.

``nova serve users|content|feed`` runs :func:`serve` (one service on its port); ``nova up
--processes`` runs :func:`run_processes`: the parent starts the engines once, spawns one
``nova serve`` child per service with the engine URLs in its environment, waits until every
child reports SERVING over gRPC health, then serves the gateway itself with gRPC clients.

Who calls whom::

    gateway --> users, content, feed, recs
    content --> users
    feed    --> users, content
    recs    --> users, content, feed (its chronological fallback)
    users process also runs the event pipeline (relay, fan-out, profile counters, audit):
    the same consumers as ``nova up`` (:func:`nova.runtime.core_consumers`); fan-out is
    mostly users lookups. Several relays and consumers may run at once, so replicas of the
    users process are safe.
    recs process owns ClickHouse: an embedded one (chdb runs inside one process only) is
    opened there, not in the parent; it also runs the analytics sink consumer (no relay: the
    users process relays) and the scheduled precompute, as ``nova up`` does.

The same service code runs here and in the single-process wiring (:mod:`nova.runtime`);
only the clients differ (:class:`~nova.users.grpc_client.GrpcUsersClient` instead of
:class:`~nova.users.client.LocalUsersClient`, and so on).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

from starlette.responses import JSONResponse

from nova import runtime
from nova.analytics_sink import AnalyticsSink
from nova.content.api import SERVICE_NAME as CONTENT_SERVICE
from nova.content.api import service_def as content_service_def
from nova.content.client import LocalContentClient
from nova.content.grpc_client import GrpcContentClient
from nova.feed.api import SERVICE_NAME as FEED_SERVICE
from nova.feed.api import service_def as feed_service_def
from nova.feed.client import LocalFeedClient
from nova.feed.grpc_client import GrpcFeedClient
from nova.gateway import app as gateway_app
from nova.gateway import health
from nova.gateway.context import Services
from nova.gateway.http import build_graphql_app
from nova.platform import analytics, cache, embedded, errors
from nova.platform.db import Database, consistency
from nova.platform.events import EventPipeline
from nova.platform.observability import exposition
from nova.platform.observability import metrics as observed
from nova.platform.rpc import (
    ClientPolicy,
    RpcServer,
    RpcTarget,
    ServerPolicy,
    ServiceDef,
    check_health,
    parse_addresses,
    serve_until_signal,
    start_server,
)
from nova.recs import jobs as recs_jobs
from nova.recs.api import SERVICE_NAME as RECS_SERVICE
from nova.recs.api import service_def as recs_service_def
from nova.recs.client import LocalRecsClient
from nova.recs.grpc_client import GrpcRecsClient
from nova.users.api import SERVICE_NAME as USERS_SERVICE
from nova.users.api import service_def as users_service_def
from nova.users.client import LocalUsersClient
from nova.users.grpc_client import GrpcUsersClient
from nova.users.service import UsersService

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Sequence

    import redis.asyncio as aioredis
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

    from nova.platform.config import Settings

__all__ = [
    "SERVICES",
    "BuiltService",
    "RemoteClients",
    "ServiceName",
    "build_gateway",
    "build_service",
    "open_remote_clients",
    "open_service",
    "serve",
    "spawn_services",
    "stop_services",
    "wait_until_serving",
]

ServiceName = Literal["users", "content", "feed", "recs"]
#: Every service that runs as its own process, in start order (dependencies first).
SERVICES: tuple[ServiceName, ...] = ("users", "content", "feed", "recs")


@dataclasses.dataclass(frozen=True, slots=True)
class RemoteClients:
    """gRPC clients of every service, as one caller process uses them."""

    users: GrpcUsersClient
    content: GrpcContentClient
    feed: GrpcFeedClient
    recs: GrpcRecsClient

    async def close(self, grace: float | None = None) -> None:
        """Close every channel, letting in-flight calls finish within ``grace``."""
        for client in (self.users, self.content, self.feed, self.recs):
            await client.target.close(grace)


def addresses_of(settings: Settings, name: ServiceName) -> list[str]:
    """The replicas of service ``name`` from the ``rpc_<name>_addresses`` setting."""
    raw = {
        "users": settings.rpc_users_addresses,
        "content": settings.rpc_content_addresses,
        "feed": settings.rpc_feed_addresses,
        "recs": settings.rpc_recs_addresses,
    }[name]
    return parse_addresses(raw)


@contextlib.asynccontextmanager
async def open_remote_clients(
    settings: Settings, *, caller: str, policy: ClientPolicy | None = None
) -> AsyncIterator[RemoteClients]:
    """Open gRPC clients of every service for process ``caller``; closed on exit."""
    policy = policy or ClientPolicy.from_settings(settings, caller=caller)
    window, batch = settings.rpc_coalesce_window, settings.rpc_coalesce_max_batch

    def target(service: str, name: ServiceName) -> RpcTarget:
        return RpcTarget(service, name=name, addresses=addresses_of(settings, name), policy=policy)

    clients = RemoteClients(
        users=GrpcUsersClient(target(USERS_SERVICE, "users"), window=window, max_batch=batch),
        content=GrpcContentClient(
            target(CONTENT_SERVICE, "content"), window=window, max_batch=batch
        ),
        feed=GrpcFeedClient(target(FEED_SERVICE, "feed")),
        recs=GrpcRecsClient(target(RECS_SERVICE, "recs")),
    )
    try:
        yield clients
    finally:
        await clients.close(grace=1.0)


@dataclasses.dataclass(frozen=True, slots=True)
class BuiltService:
    """One service process's parts.

    Attributes:
        definition: The gRPC servicer.
        events: The event pipeline this process runs (users: every core consumer; recs: the
            analytics sink), or None.
        sink: The analytics sink whose tables are created at start (recs).
        jobs: The recommendation jobs run on the precompute schedule (recs).
    """

    definition: ServiceDef
    events: EventPipeline | None = None
    sink: AnalyticsSink | None = None
    jobs: LocalRecsClient | None = None


def build_service(
    name: ServiceName,
    *,
    db: Database,
    redis: aioredis.Redis,
    settings: Settings,
    remote: RemoteClients,
    clickhouse: analytics.ClickHouse | None = None,
) -> BuiltService:
    """The servicer of ``name`` over ``db``/``redis``, its peers reached through ``remote``.

    ``clickhouse`` is required for recs (the process that owns it).
    """
    if name == "users":
        versioned = cache.VersionedCache(redis, prefix=settings.redis_key_prefix)
        service = UsersService(db, settings=settings, cache=versioned)
        consumers = runtime.core_consumers(
            settings, db=db, redis=redis, users_service=service, users=LocalUsersClient(service)
        )
        events = EventPipeline.build(settings, db=db, consumers=consumers)
        return BuiltService(users_service_def(service), events=events)
    if name == "content":
        content = LocalContentClient.build(db=db, users=remote.users)
        return BuiltService(content_service_def(content))
    if name == "feed":
        feed = LocalFeedClient.build(
            db=db, redis=redis, users=remote.users, content=remote.content, settings=settings
        )
        return BuiltService(feed_service_def(feed))
    if clickhouse is None:
        raise RuntimeError("the recs process needs its ClickHouse client")
    recs = LocalRecsClient.build(
        clickhouse=clickhouse,
        redis=redis,
        db=db,
        users=remote.users,
        content=remote.content,
        feed=remote.feed,
        settings=settings,
    )
    sink = AnalyticsSink(clickhouse)
    # The users process relays the outbox; this one only consumes, into ClickHouse.
    events = EventPipeline.build(settings, db=db, consumers=[sink.consumer()], relay=False)
    return BuiltService(recs_service_def(recs), events=events, sink=sink, jobs=recs)


@contextlib.asynccontextmanager
async def open_clickhouse(settings: Settings) -> AsyncIterator[analytics.ClickHouse]:
    """This process's ClickHouse: ``NOVA_CLICKHOUSE_URL``, else embedded (chdb) in the data dir.

    The embedded engine is locked to this process while it runs; the client is closed and the
    engine stopped on exit.
    """
    engines = embedded.Engines(settings, only=["clickhouse"])
    try:
        endpoints = await asyncio.to_thread(engines.start)
        client = await analytics.open_client(endpoints.clickhouse_url)
        try:
            yield client
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(engines.stop)


@contextlib.asynccontextmanager
async def open_service(
    name: ServiceName, settings: Settings, *, address: str, run_worker: bool = True
) -> AsyncIterator[RpcServer]:
    """Connect the engines, start service ``name`` on ``address``; stop it on exit."""
    database_url = _required(settings.database_url, "NOVA_DATABASE_URL")
    redis_url = _required(settings.redis_url, "NOVA_REDIS_URL")
    async with contextlib.AsyncExitStack() as stack:
        redis = cache.connect(redis_url, timeout=settings.redis_timeout)
        stack.push_async_callback(redis.aclose)
        # Replicas as configured; read-your-writes positions shared with the other processes.
        db = await Database.from_settings(settings, url=database_url, redis=redis)
        stack.push_async_callback(db.close)
        clickhouse = (
            await stack.enter_async_context(open_clickhouse(settings)) if name == "recs" else None
        )
        remote = await stack.enter_async_context(open_remote_clients(settings, caller=name))
        built = build_service(
            name, db=db, redis=redis, settings=settings, remote=remote, clickhouse=clickhouse
        )
        if built.events is not None:
            stack.push_async_callback(built.events.aclose)
            # This process runs a pipeline: its /metrics shows the log (and the outbox it relays).
            if built.events.relay is not None:
                observed.watch_outbox(db)
            built.events.export_metrics()
        if built.sink is not None:
            await runtime.create_sink_schema(built.sink)
        server = await start_server(
            [built.definition], address=address, policy=ServerPolicy.from_settings(settings)
        )
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            if run_worker:
                # Workers act on what just committed: never on a replica's past.
                with consistency.primary_only():
                    if built.events is not None:
                        group.create_task(built.events.run(stop))
                    if built.jobs is not None and settings.recs_precompute_schedule:
                        group.create_task(recs_jobs.run_schedule(built.jobs, settings, stop))
            try:
                yield server
            finally:
                stop.set()
                await server.stop(settings.rpc_shutdown_grace)


async def serve(name: ServiceName, settings: Settings, *, address: str) -> None:
    """Run service ``name`` on ``address`` until SIGTERM/SIGINT, then stop gracefully.

    With ``NOVA_METRICS_PORT`` set, ``/metrics`` is served on that port on the same host.
    """
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(open_service(name, settings, address=address))
        if settings.metrics_port is not None:
            host = address.rsplit(":", 1)[0]
            await stack.enter_async_context(exposition.listening(host, settings.metrics_port))
        await serve_until_signal(server, grace=settings.rpc_shutdown_grace)


def _required(value: object, setting: str) -> str:
    secret = getattr(value, "get_secret_value", None)
    if secret is None:
        raise RuntimeError(f"{setting} is unset: the parent process passes engine URLs down")
    return str(secret())


# -- the parent of `nova up --processes` ---------------------------------------------------


def spawn_services(
    settings: Settings, *, env: dict[str, str], names: Sequence[ServiceName] = SERVICES
) -> dict[ServiceName, subprocess.Popen[bytes]]:
    """Start one ``nova serve <name>`` child per service, with ``env`` added to ours.

    ``env`` carries the engine URLs the parent resolved (engines start once, in the parent);
    every child gets the same ``NOVA_RPC_*_ADDRESSES``, so peers find each other, and the same
    ``NOVA_DATA_DIR`` (recs opens an embedded ClickHouse there). With ``NOVA_METRICS_PORT`` = P,
    users serves ``/metrics`` on P, content on P+1, feed on P+2, recs on P+3.
    """
    child_env = {
        **os.environ,
        **env,
        "NOVA_DATA_DIR": str(settings.data_dir.absolute()),
        "NOVA_RPC_USERS_ADDRESSES": settings.rpc_users_addresses,
        "NOVA_RPC_CONTENT_ADDRESSES": settings.rpc_content_addresses,
        "NOVA_RPC_FEED_ADDRESSES": settings.rpc_feed_addresses,
        "NOVA_RPC_RECS_ADDRESSES": settings.rpc_recs_addresses,
    }

    def metrics_port(index: int) -> dict[str, str]:
        # One port each: NOVA_METRICS_PORT for the first service, the next ones after it.
        if settings.metrics_port is None:
            return {}
        return {"NOVA_METRICS_PORT": str(settings.metrics_port + index)}

    return {
        name: subprocess.Popen(  # noqa: S603  # our own interpreter and module, no shell
            [sys.executable, "-m", "nova", "serve", name],
            env={**child_env, **metrics_port(SERVICES.index(name))},
        )
        for name in names
    }


async def wait_until_serving(
    settings: Settings, *, names: Sequence[ServiceName] = SERVICES, within: float = 60.0
) -> None:
    """Poll each service's gRPC health until it reports SERVING.

    Raises:
        errors.UnavailableError: a service was not serving within ``within`` seconds.
    """
    give_up = time.monotonic() + within
    for name in names:
        address = addresses_of(settings, name)[0]
        while not await check_health(address):
            if time.monotonic() > give_up:
                raise errors.UnavailableError(
                    f"the {name} service did not start on {address}", dependency=name
                )
            await asyncio.sleep(0.1)


def stop_services(children: dict[ServiceName, subprocess.Popen[bytes]], *, grace: float) -> None:
    """SIGTERM every child (graceful stop), then SIGKILL the ones still alive after ``grace``."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 1.0
    for child in children.values():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class _Deferred:
    """The GraphQL endpoint, once the lifespan has connected the clients (503 before)."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.target is None:
            body = {"errors": [{"message": "Nova is starting or stopping; retry shortly.",
                                "extensions": {"code": "UNAVAILABLE"}}]}  # fmt: skip
            await JSONResponse(body, status_code=503, headers={"Retry-After": "1"})(
                scope, receive, send
            )
            return
        await self.target(scope, receive, send)


def build_gateway(settings: Settings, *, spawn: bool = False) -> Starlette:
    """The gateway app of the process wiring: GraphQL over gRPC clients of every service.

    Args:
        settings: Resolved settings (engine URLs set).
        spawn: Start the service processes in the app's lifespan (``nova up --processes``)
            and stop them gracefully when it ends; False expects them running already.
    """
    graphql = _Deferred()

    @contextlib.asynccontextmanager
    async def services(resolved: Settings) -> AsyncIterator[None]:
        redis_url = _required(resolved.redis_url, "NOVA_REDIS_URL")
        children: dict[ServiceName, subprocess.Popen[bytes]] = {}
        if spawn:
            env = {
                "NOVA_DATABASE_URL": _required(resolved.database_url, "NOVA_DATABASE_URL"),
                "NOVA_REDIS_URL": redis_url,
            }
            children = spawn_services(resolved, env=env)
        redis = cache.connect(redis_url, timeout=resolved.redis_timeout)
        try:
            await wait_until_serving(resolved)
            async with open_remote_clients(resolved, caller="gateway") as remote:
                clients = Services(
                    users=remote.users, content=remote.content, feed=remote.feed, recs=remote.recs
                )
                positions = consistency.CallerPositions.from_settings(resolved, redis=redis)
                graphql.target = build_graphql_app(
                    resolved, clients, redis=redis, positions=positions
                )
                try:
                    yield
                finally:
                    graphql.target = None
        finally:
            await redis.aclose()
            if children:
                await asyncio.to_thread(stop_services, children, grace=resolved.rpc_shutdown_grace)

    # An embedded ClickHouse is the recs process's (chdb is in-process): /healthz asks each
    # service process instead; a ClickHouse server is checked from here too.
    url = settings.clickhouse_url.get_secret_value() if settings.clickhouse_url else ""
    engines = (
        ("postgres", "redis", "clickhouse") if url.startswith("http") else ("postgres", "redis")
    )
    return gateway_app.build(
        settings,
        graphql=graphql,
        services=services,
        engines=engines,
        checks={name: _service_check(settings, name) for name in SERVICES},
    )


def _service_check(
    settings: Settings, name: ServiceName
) -> Callable[[], Coroutine[Any, Any, health.Check]]:
    """A ``/healthz`` check of service ``name``'s first replica (gRPC health)."""
    address = addresses_of(settings, name)[0]
    return functools.partial(health.check_service, address, name=name)
