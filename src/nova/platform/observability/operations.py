"""GraphQL operations: their span, RED metrics, log context and business counters.

The gateway wraps each operation it runs::

    outcome = await operations.observe(
        self._run(op, actor, method), query=op.query, operation_name=op.operation_name
    )

and :func:`observe` names the operation, opens its span, binds ``graphql.operation.*`` for
every line logged meanwhile, and records ``nova_graphql_requests_total`` and
``nova_graphql_request_duration_seconds`` once it is answered.

The ``operation`` label is the *root field* the operation selects (``homeFeed``,
``createPost``), not the client's operation name: root fields come from the schema, so the
label set is bounded whatever clients send, and one field is one label whichever app or
operation name asks for it (the feed SLO selects ``operation="homeFeed"``). The client's name
goes to logs and spans, where cardinality costs nothing.

Business counters follow successful operations (one place, no coupling to the services):

=========================  ==================================================================
root field                 counter
=========================  ==================================================================
register                   ``nova_registrations_total`` when ``errors`` is empty
createPost                 ``nova_posts_total`` likewise
likePost                   ``nova_likes_total`` likewise
follow                     ``nova_follows_total`` likewise
recordRecommendationClick  ``nova_recommendation_clicks_total`` likewise
homeFeed                   ``nova_feed_impressions_total`` by the number of edges served
=========================  ==================================================================

``nova_recommendation_impressions_total`` is counted by the ``recommendedFeed`` resolver itself:
only posts served with source ``RECOMMENDED`` count, whatever fields the client selected.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from opentelemetry import trace

from nova.platform.observability import logs, metrics, tracing

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from nova.platform.context import Actor

__all__ = ["Operation", "Outcome", "bind_actor", "classify", "describe", "observe"]

#: Root fields whose success increments a business counter, and how (see module docstring).
BUSINESS_FIELDS: dict[str, tuple[str, str]] = {
    "register": ("registrations", "mutation"),
    "createPost": ("posts", "mutation"),
    "likePost": ("likes", "mutation"),
    "follow": ("follows", "mutation"),
    "homeFeed": ("feed_impressions", "edges"),
    "recordRecommendationClick": ("recommendation_clicks", "mutation"),
}
#: Error codes that are the server's fault (they count against the availability SLO).
SERVER_ERROR_CODES = frozenset({"INTERNAL", "UNAVAILABLE", "POOL_EXHAUSTED", "CONFIGURATION"})
#: Statuses answered before execution (parse/validation, wrong method): the root fields of
#: such documents are not known to exist, so they never become labels.
_NOT_EXECUTED = frozenset({400, 405, 413})
#: Longer documents are described without caching, so the cache holds at most ~8 MiB of text.
_CACHEABLE_CHARS = 16_384
_NAME_CHARS = 64

R = TypeVar("R", bound="Outcome")


class Outcome(Protocol):
    """What the gateway returns for one operation: an HTTP status and the body, if built."""

    status: int
    body: dict[str, Any] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """What a document selects, for labels and span names.

    Attributes:
        type: ``query``, ``mutation``, ``subscription`` or ``unknown``.
        label: The metric label: the single root field, ``multiple`` or ``other``.
        fields: ``(response key, field name)`` of each root field (aliases resolved).
    """

    type: str
    label: str
    fields: tuple[tuple[str, str], ...] = ()


_UNKNOWN = Operation(type="unknown", label="other")


def describe(query: str | None, operation_name: str | None) -> Operation:
    """Name the operation ``operation_name`` of ``query`` (the only one when None).

    Example:
        >>> describe("query Home { feed: homeFeed { partial } }", None)
        Operation(type='query', label='homeFeed', fields=(('feed', 'homeFeed'),))
    """
    if not query:
        return _UNKNOWN
    if len(query) > _CACHEABLE_CHARS:
        return _describe(query, operation_name)
    return _cached_describe(query, operation_name)


@functools.lru_cache(maxsize=512)
def _cached_describe(query: str, operation_name: str | None) -> Operation:
    return _describe(query, operation_name)


def _describe(query: str, operation_name: str | None) -> Operation:
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return _UNKNOWN
    chosen = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation_name is None or (d.name is not None and d.name.value == operation_name))
    ]
    if len(chosen) != 1:
        return _UNKNOWN
    definition = chosen[0]
    fields = tuple(
        ((s.alias or s.name).value, s.name.value)
        for s in definition.selection_set.selections
        if isinstance(s, FieldNode) and s.name.value != "__typename"
    )
    names = {name for _, name in fields}
    label = names.pop() if len(names) == 1 else ("multiple" if names else "other")
    if label.startswith("__"):
        label = "introspection"
    return Operation(type=definition.operation.value, label=label, fields=fields)


def classify(status: int, body: dict[str, Any] | None) -> str:
    """``ok``, ``client_error`` or ``server_error`` for an answered operation.

    A mutation's ``payload.errors`` (a taken username) are answers, not failures: ``ok``.
    """
    codes = {
        str((error.get("extensions") or {}).get("code", ""))
        for error in (body or {}).get("errors") or ()
        if isinstance(error, dict)
    }
    if status >= 500 or codes & SERVER_ERROR_CODES:
        return "server_error"
    if status >= 400 or codes:
        return "client_error"
    return "ok"


async def observe(run: Awaitable[R], *, query: str | None, operation_name: str | None) -> R:
    """Await ``run`` (one operation) inside its span, log context and metrics.

    Args:
        run: The coroutine answering the operation; it starts inside the span.
        query: The document text, when the client sent it (not for persisted-query hashes).
        operation_name: The client's operation name.

    Returns:
        What ``run`` returned.
    """
    op = describe(query, operation_name)
    name = (operation_name or op.label)[:_NAME_CHARS]
    fields = {"graphql.operation.name": name, "graphql.operation.type": op.type}
    started = time.perf_counter()
    span_name = f"{op.type} {op.label}"
    with tracing.tracer().start_as_current_span(span_name, attributes=fields) as span:
        with logs.bound(**fields):
            try:
                outcome = await run
            except Exception:
                _record(op.label, "server_error", started)
                raise
        label = "invalid" if outcome.status in _NOT_EXECUTED else op.label
        result = classify(outcome.status, outcome.body)
        _record(label, result, started)
        if result == "server_error":
            span.set_status(trace.StatusCode.ERROR)
        elif result == "ok" and outcome.body is not None:
            _count_business(op, outcome.body.get("data"))
    return outcome


def _record(label: str, outcome: str, started: float) -> None:
    metrics.GRAPHQL_REQUESTS.labels(label, outcome).inc()
    metrics.GRAPHQL_DURATION.labels(label).observe(time.perf_counter() - started)


def _count_business(op: Operation, data: object) -> None:
    if not isinstance(data, dict):
        return
    for key, name in op.fields:
        found = BUSINESS_FIELDS.get(name)
        payload = data.get(key)
        if found is None or not isinstance(payload, dict):
            continue
        counter, how = found
        if how == "mutation" and payload.get("errors") == []:
            metrics.BUSINESS[counter].inc()
        elif how == "edges" and isinstance(payload.get("edges"), list):
            metrics.BUSINESS[counter].inc(len(payload["edges"]))


def bind_actor(actor: Actor) -> None:
    """Put the caller's ``user.id`` and ``tenant.id`` on every later line of this request.

    The request middleware removes them when the request ends. The user id also goes on the
    request span (``enduser.id``): traces are access-controlled like logs; metrics never see it.
    """
    fields = {"tenant.id": actor.tenant_id}
    if actor.user_id is not None:
        fields["user.id"] = str(actor.user_id)
    logs.bind(**fields)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("tenant.id", actor.tenant_id)
        if actor.user_id is not None:
            span.set_attribute("enduser.id", str(actor.user_id))
