"""ASGI middleware: one span, one correlation id, one access line and RED metrics per request.

Per HTTP request:

1. The correlation id is the client's ``X-Request-Id`` when it is a sane token (8 to 64 of
   ``[A-Za-z0-9._-]``), else the trace id (the client's ``traceparent``, or a new trace), so a
   request without headers is found in logs and traces by the same 32-hex id.
2. A server span starts as a child of ``traceparent``; ``correlation_id``, ``http.*`` fields
   (and ``trace_id``/``span_id`` via the log processor) are bound for every line logged inside.
3. The id is written into the request's ``X-Request-Id`` header (so the app downstream sees the
   same one) and into the response's, also on errors: an unhandled exception is logged here,
   with the context, and answered with a JSON 500.
4. One access line (``duration_ms``, ``http.response.status_code``) and the HTTP metrics.

On the lifespan it runs the event-loop lag monitor for the life of the app.

Example:
    >>> Starlette(routes=routes, middleware=[Middleware(RequestTelemetry)])  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING

import orjson
import structlog
from opentelemetry import trace

from nova.platform.observability import logs, loop, metrics, tracing

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestTelemetry"]

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Routes answered for machines; their access lines are DEBUG so probes do not drown the log.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_HEADER = b"x-request-id"
_INTERNAL = orjson.dumps(
    {"errors": [{"message": "Internal server error.", "extensions": {"code": "INTERNAL"}}]}
)


class RequestTelemetry:
    """Wraps an ASGI app (see the module docstring).

    Args:
        app: The application.
        routes: Paths that are their own ``http.route`` label; others are ``other``. Defaults
            to the paths of the Starlette app handling the request.
        loop_lag_interval: Seconds between event-loop lag samples (0 disables the monitor).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: frozenset[str] | None = None,
        loop_lag_interval: float = loop.DEFAULT_INTERVAL,
    ) -> None:
        self.app = app
        self._routes = routes
        self._loop_lag_interval = loop_lag_interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan" and self._loop_lag_interval > 0:
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app's lifespan with the loop-lag watcher beside it.

        The watcher ends *before* "shutdown complete" goes to the server: uvicorn tears the
        loop down right after, and a lifespan task still running then is cancelled and logged
        as "Exception in 'lifespan' protocol".
        """
        stop = asyncio.Event()
        watcher = asyncio.create_task(loop.watch(stop, interval=self._loop_lag_interval))

        async def send_after_watcher(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown"):
                stop.set()
                await watcher
            await send(message)

        try:
            await self.app(scope, receive, send_after_watcher)
        finally:
            stop.set()
            await watcher

    def _route(self, scope: Scope) -> str:
        if self._routes is None:
            app = scope.get("app")
            paths = {getattr(r, "path", None) for r in getattr(app, "routes", ())}
            self._routes = frozenset(p for p in paths if isinstance(p, str))
        path: str = scope.get("path", "")
        return path if path in self._routes else "other"

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        method = str(scope.get("method", "GET"))
        route = self._route(scope)
        span = tracing.tracer().start_span(
            f"{method} {route}",
            context=tracing.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        )
        span_context = span.get_span_context()
        supplied = carrier.get("x-request-id", "")
        if _REQUEST_ID.fullmatch(supplied):
            cid = supplied
        elif span_context.is_valid:
            cid = trace.format_trace_id(span_context.trace_id)
        else:
            cid = uuid.uuid4().hex
        span.set_attribute("correlation_id", cid)
        raw_cid = cid.encode("latin-1")
        headers = [(k, v) for k, v in headers if k != _HEADER] + [(_HEADER, raw_cid)]
        state = {"status": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                out = list(message.get("headers", ()))
                if not any(k.lower() == _HEADER for k, _ in out):
                    out.append((_HEADER, raw_cid))
                message = {**message, "headers": out}
            await send(message)

        before = set(structlog.contextvars.get_contextvars())
        with (
            trace.use_span(span, end_on_exit=True),
            logs.bound(correlation_id=cid, **{"http.request.method": method, "http.route": route}),
        ):
            try:
                await self.app({**scope, "headers": headers}, receive, send_with_id)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR)
                if state["status"]:
                    raise  # the response is under way: only dropping the connection is left
                logger.exception("unhandled error serving the request")
                await send_with_id(_internal_error_start())
                await send({"type": "http.response.body", "body": _INTERNAL})
            finally:
                status = state["status"] or 500
                span.set_attribute("http.response.status_code", status)
                self._finish(method, route, status, started)
                # Fields bound downstream (user.id, …) end with the request, like ours.
                added = set(structlog.contextvars.get_contextvars()) - before
                structlog.contextvars.unbind_contextvars(*added)

    @staticmethod
    def _finish(method: str, route: str, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        label = method if method in _METHODS else "other"
        metrics.HTTP_REQUESTS.labels(label, route, str(status)).inc()
        metrics.HTTP_DURATION.labels(label, route).observe(elapsed)
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 500 else logging.INFO
        logger.log(
            level,
            "request served",
            extra={"http.response.status_code": status, "duration_ms": round(elapsed * 1e3, 3)},
        )


def _internal_error_start() -> Message:
    return {
        "type": "http.response.start",
        "status": 500,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_INTERNAL)).encode()),
        ],
    }
