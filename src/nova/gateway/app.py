"""The HTTP shell of Nova: GraphQL, health, readiness and metrics on one Starlette app.

``build(settings)`` is the composition root: it wires routes and a lifespan, and connects to
nothing until the lifespan runs (STYLE 8).

============  ==============================================================================
route         answers
============  ==============================================================================
/graphql      the GraphQL API (GraphiQL outside production)
/healthz      ``{"status": "ok"|"degraded", "checks": {...}}``; 200 when all ok, else 503
/readyz       200 once start-up has finished, 503 before that and during shutdown
/metrics      Prometheus text format
============  ==============================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import strawberry
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import DisableIntrospection

import nova
from nova.gateway import health
from nova.platform.embedded import ENGINE_NAMES, ENGINE_SETTINGS
from nova.platform.observability import RequestTelemetry
from nova.platform.observability import metrics as observed

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping

    from starlette.requests import Request
    from starlette.types import ASGIApp

    from nova.platform.config import Settings
    from nova.platform.embedded import EngineEndpoints

__all__ = ["build", "default_schema"]

#: Connections the health-check pool may hold; real traffic uses the service pools.
_HEALTH_POOL_SIZE = 2


@strawberry.type
class _Query:
    @strawberry.field
    def version(self) -> str:
        return nova.__version__


def default_schema(*, production: bool = False) -> strawberry.Schema:
    """A minimal schema (``{ version }``) until the real API is mounted.

    Args:
        production: Disables introspection, as production APIs should not publish their
            whole surface to anyone who asks.
    """
    extensions = [DisableIntrospection] if production else []
    return strawberry.Schema(query=_Query, extensions=extensions)


@dataclass
class _State:
    """Clients the lifespan opens; ``None`` until then (or when a URL is missing)."""

    pool: asyncpg.Pool[Any] | None = None
    redis: Redis | None = None
    clickhouse: health.ClickHouse | None = None
    ready: bool = False
    missing: dict[str, str] = field(default_factory=dict)


def build(
    settings: Settings,
    *,
    endpoints: EngineEndpoints | None = None,
    schema: strawberry.Schema | None = None,
    graphql: ASGIApp | None = None,
    services: Callable[[Settings], contextlib.AbstractAsyncContextManager[None]] | None = None,
    engines: Collection[str] = ENGINE_NAMES,
    checks: Mapping[str, Callable[[], Coroutine[Any, Any, health.Check]]] | None = None,
) -> Starlette:
    """Build the ASGI app; connections are opened by its lifespan, not here.

    Args:
        settings: The process settings; their engine URLs are used unless ``endpoints``
            is given.
        endpoints: Where the engines answer (from :class:`nova.platform.embedded.Engines`).
        schema: The GraphQL schema; :func:`default_schema` when omitted.
        graphql: A complete GraphQL app (:func:`nova.gateway.http.build_graphql_app`) served
            at ``/graphql`` instead of ``schema``.
        services: Opened by the lifespan with the resolved settings, after the health
            connections and before the app reports ready (the composition root builds the
            services and the GraphQL endpoint there).
        engines: The engines this process checks in ``/healthz`` (the process wiring leaves
            out an embedded ClickHouse that its recs process owns).
        checks: More ``/healthz`` checks by name, after the engines' (the process wiring's
            service processes).

    Example:
        >>> app = build(settings, endpoints=engines.start())  # doctest: +SKIP
        >>> uvicorn.run(app)  # doctest: +SKIP
    """
    if endpoints is not None:
        settings = endpoints.apply(settings)
    urls = {
        name: url
        for name, url in {
            "postgres": _secret(settings.database_url),
            "redis": _secret(settings.redis_url),
            "clickhouse": _secret(settings.clickhouse_url),
        }.items()
        if name in engines
    }
    extra = dict(checks or {})
    state = _State()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await _open(state, urls, settings)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if services is not None:
                    await stack.enter_async_context(services(settings))
                state.ready = True
                try:
                    yield
                finally:
                    state.ready = False
        finally:
            await _close(state)

    async def healthz(_: Request) -> Response:
        checks = await _run_checks(state, extra)
        ok = state.ready and all(check.status == "ok" for check in checks.values())
        body = {
            "status": "ok" if ok else "degraded",
            "checks": {name: check.as_dict() for name, check in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def readyz(_: Request) -> Response:
        if state.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, status_code=503)

    async def metrics(_: Request) -> Response:
        body, content_type = await observed.scrape()
        return Response(body, media_type=content_type)

    if graphql is None:
        graphql = GraphQL[Any, Any](
            schema or default_schema(production=settings.is_production),
            graphql_ide=None if settings.is_production else "graphiql",
        )
    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RequestTelemetry)],
    )


async def _open(state: _State, urls: dict[str, str], settings: Settings) -> None:
    """Open a health client for each engine in ``urls`` (an empty URL is reported missing)."""
    for name, url in urls.items():
        if not url:
            state.missing[name] = f"{ENGINE_SETTINGS[name]} is not set"
        elif name == "postgres":
            # min_size=0: the pool connects on first use, so a database that is down at
            # start-up makes /healthz report it instead of keeping the process from starting.
            state.pool = await asyncpg.create_pool(
                url,
                min_size=0,
                max_size=_HEALTH_POOL_SIZE,
                timeout=settings.database_connect_timeout,
                command_timeout=settings.database_command_timeout,
            )
        elif name == "redis":
            state.redis = health.redis_client(url, timeout=settings.redis_timeout)
        else:
            state.clickhouse = health.ClickHouse(url)
            await state.clickhouse.open()


async def _close(state: _State) -> None:
    pool, state.pool = state.pool, None
    redis, state.redis = state.redis, None
    clickhouse, state.clickhouse = state.clickhouse, None
    if pool is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pool.close(), timeout=3.0)
    if redis is not None:
        await redis.aclose()
    if clickhouse is not None:
        await clickhouse.close()


async def _run_checks(
    state: _State, extra: Mapping[str, Callable[[], Coroutine[Any, Any, health.Check]]]
) -> dict[str, health.Check]:
    missing = {
        name: health.Check(status="error", latency_ms=0.0, error=reason)
        for name, reason in state.missing.items()
    }
    async with asyncio.TaskGroup() as group:
        tasks = {}
        if state.pool is not None:
            tasks["postgres"] = group.create_task(health.check_postgres(state.pool))
        if state.redis is not None:
            tasks["redis"] = group.create_task(health.check_redis(state.redis))
        if state.clickhouse is not None:
            tasks["clickhouse"] = group.create_task(health.check_clickhouse(state.clickhouse))
        for name, check in extra.items():
            tasks[name] = group.create_task(check())
    checks = {name: task.result() for name, task in tasks.items()} | missing
    order = [*ENGINE_NAMES, *extra]
    return {name: checks[name] for name in order if name in checks}


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""
