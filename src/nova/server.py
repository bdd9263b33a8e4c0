"""The single-process server: the gateway's HTTP shell with every service wired in-process.

``nova up`` serves :func:`build`. The services and the GraphQL endpoint are built inside the
app's lifespan (pools connect asynchronously), so ``/graphql`` answers 503 until start-up has
finished and after shutdown has begun.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from nova.gateway import app as gateway_app
from nova.gateway.context import Services
from nova.gateway.http import build_graphql_app
from nova.platform.observability import metrics as observed
from nova.runtime import open_runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

    from nova.gateway.http import GraphQLEndpoint
    from nova.platform.config import Settings
    from nova.runtime import Runtime

__all__ = ["build"]


class _Deferred:
    """An ASGI app whose target is set once the lifespan has built it."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.target is None:
            response = JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Nova is starting or stopping; retry shortly.",
                            "extensions": {"code": "UNAVAILABLE"},
                        }
                    ]
                },
                status_code=503,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        await self.target(scope, receive, send)


def _export_counters(runtime: Runtime, endpoint: GraphQLEndpoint) -> None:
    """Export what only this wiring can count: caches, SQL, feed paths, outbox, event log."""
    observed.watch_outbox(runtime.db)
    observed.watch_cache("users", runtime.users_cache)
    observed.watch_cache("responses", endpoint.responses)
    observed.watch_totals(
        "db_statements",
        "SQL statements this process sent to PostgreSQL.",
        lambda: {"": runtime.db.stats.statements},
    )
    observed.watch_totals(
        "feed_reads",
        "Home-feed pages by the path that served them (timeline, rebuilt, database).",
        lambda: dict(runtime.feed.service.reads),
        label="source",
    )
    observed.watch_totals(
        "recs_events",
        "Recommended-feed pages by source, lists computed and ClickHouse queries run.",
        lambda: dict(runtime.recs.service.counts),
        label="kind",
    )
    runtime.events.export_metrics()


def build(settings: Settings) -> Starlette:
    """The app for resolved ``settings`` (engine URLs set, embedded or external)."""
    graphql = _Deferred()

    @contextlib.asynccontextmanager
    async def services(resolved: Settings) -> AsyncIterator[None]:
        async with open_runtime(resolved) as runtime:
            endpoint = build_graphql_app(
                resolved,
                Services(
                    users=runtime.users,
                    content=runtime.content,
                    feed=runtime.feed,
                    recs=runtime.recs,
                ),
                redis=runtime.redis,
                positions=runtime.db.positions,
            )
            _export_counters(runtime, endpoint)
            graphql.target = endpoint
            try:
                yield
            finally:
                graphql.target = None

    return gateway_app.build(settings, graphql=graphql, services=services)
