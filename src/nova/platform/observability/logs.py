"""Structured logs with one field vocabulary for every Nova process.

Every line is a JSON object (or a readable console line in development) whose keys come from
:data:`VOCABULARY`, named after OpenTelemetry's semantic conventions where one exists.
Request and event handlers bind their context once (:func:`bind`), and every line logged
while handling them — through structlog or the standard :mod:`logging` module — carries it.

Example:
    >>> configure(service="nova", fmt=LogFormat.JSON, level="INFO")    # doctest: +SKIP
    >>> with bound(correlation_id=cid, trace_id=tid, **{"user.id": str(uid)}):
    ...     logging.getLogger(__name__).info("feed served")             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from opentelemetry import trace

from nova.platform.config import LogFormat

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, MutableMapping, Sequence

__all__ = [
    "REQUIRED_IN_CONTEXT",
    "VOCABULARY",
    "bind",
    "bound",
    "check_line",
    "configure",
    "json_schema",
    "vocabulary_table",
]

#: Every key a log line may carry, and what it means (docs/observability.md renders this).
VOCABULARY: dict[str, str] = {
    "timestamp": "ISO-8601 UTC time of the line",
    "level": "debug, info, warning, error or critical",
    "message": "what happened, for people",
    "logger": "the module that logged",
    "service.name": "the process's service (nova, users, content, feed, gateway, relay …)",
    "correlation_id": "id tying together every line, event and span of one request",
    "trace_id": "W3C trace id (32 hex) of the current trace",
    "span_id": "W3C span id (16 hex) of the current span",
    "http.request.method": "HTTP method",
    "http.route": "matched route, e.g. /graphql",
    "http.response.status_code": "HTTP status sent",
    "graphql.operation.name": "GraphQL operation name",
    "graphql.operation.type": "query, mutation or subscription",
    "rpc.method": "gRPC method",
    "db.system": "postgresql, redis or clickhouse",
    "duration_ms": "elapsed milliseconds of the logged unit of work",
    "user.id": "authenticated user (never in metric labels)",
    "tenant.id": "tenant of the request or event",
    "event.id": "id of the event being published or handled",
    "event.type": "type of that event, e.g. PostPublished",
    "messaging.consumer.group.name": "consumer (group) handling the event, e.g. feed.fanout",
    "error.type": "exception class or error code",
    "exception": "formatted stack trace (server logs only, never sent to clients)",
}

#: Keys that every line emitted inside a request or event handler must carry.
REQUIRED_IN_CONTEXT = ("correlation_id", "trace_id")

#: JSON types of the fields that are not strings.
_TYPES = {"duration_ms": "number", "http.response.status_code": "integer"}


def json_schema(*, required: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON Schema (2020-12) of one log line: vocabulary keys only, with their types.

    Args:
        required: Keys that must be present besides ``timestamp``, ``level`` and ``message``
            (pass :data:`REQUIRED_IN_CONTEXT` for lines logged inside a handler).

    Example:
        >>> json_schema()["properties"]["duration_ms"]
        {'type': 'number', 'description': 'elapsed milliseconds of the logged unit of work'}
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            key: {"type": _TYPES.get(key, "string"), "description": doc}
            for key, doc in VOCABULARY.items()
        },
        "required": ["timestamp", "level", "message", *required],
        "additionalProperties": False,
    }


def _rename_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event["message"] = event.pop("event", "")
    return event


def vocabulary_table() -> str:
    """The field vocabulary as a Markdown table (``docs/observability.md`` embeds it)."""
    rows = [f"| `{key}` | {_TYPES.get(key, 'string')} | {doc} |" for key, doc in VOCABULARY.items()]
    return "\n".join(["| field | type | meaning |", "|---|---|---|", *rows])


_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def check_line(line: Mapping[str, Any], *, required: Sequence[str] = ()) -> list[str]:
    """What in one parsed JSON line breaks :func:`json_schema` (empty when it conforms).

    The schema is flat, so this small check is exact; use it in tests and log pipelines.

    Example:
        >>> check_line({"timestamp": "t", "level": "info", "message": "m", "path": "/x"})
        ['unknown key path']
    """
    schema = json_schema(required=required)
    problems = [f"missing {key}" for key in schema["required"] if key not in line]
    properties = schema["properties"]
    for key, value in line.items():
        if key not in properties:
            problems.append(f"unknown key {key}")
        elif not _CHECKS[properties[key]["type"]](value):
            problems.append(f"{key}={value!r} is not {properties[key]['type']}")
    return problems


def _add_trace_context(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Read the span at log time rather than binding it: a line logged inside a child span (the
    # GraphQL operation, an SQL call) then names that span, not the request's root span.
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = trace.format_trace_id(context.trace_id)
        event["span_id"] = trace.format_span_id(context.span_id)
    return event


def _dumps(data: Any, **_: Any) -> str:
    return orjson.dumps(data, default=str).decode()


def configure(*, service: str, fmt: LogFormat, level: str, stream: Any = None) -> None:
    """Route structlog and the standard library through one renderer.

    Args:
        service: Value of ``service.name`` on every line.
        fmt: JSON for machines, console for people.
        level: Minimum level name.
        stream: Where lines go (stderr by default; tests pass a buffer).
    """

    def add_service(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("service.name", service)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        # Standard-library callers pass vocabulary fields as ``extra=``; anything else in
        # ``extra`` (ad-hoc keys) stays out so every line keeps to the vocabulary.
        structlog.stdlib.ExtraAdder(allow=tuple(VOCABULARY)),
        _add_trace_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_service,
    ]
    renderer: Any
    if fmt is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
        final: list[Any] = [structlog.processors.format_exc_info, _rename_event, renderer]
    else:
        # Plain tracebacks: rich's renderer costs tens of milliseconds per exception, which
        # turned a burst of degraded-mode warnings into an overload of its own.
        final = [
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            )
        ]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def bind(**fields: Any) -> None:
    """Add ``fields`` to every line logged in the current context (task)."""
    structlog.contextvars.bind_contextvars(**fields)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` for the duration of the block, restoring the previous context after."""
    tokens = structlog.contextvars.bind_contextvars(**fields)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
