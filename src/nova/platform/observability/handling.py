"""Handling one event: a consumer span in the producer's trace, log context and lag metrics.

A consumer wraps each event it applies::

    with handling.handling(event, consumer="feed.fanout"):
        await apply(event)

Inside, every log line carries the request's ``correlation_id`` and the consumer span's
``trace_id``/``span_id``, plus ``event.id``, ``event.type``, ``tenant.id`` and
``messaging.consumer.group.name``. The span is a child of the span that wrote the event
(``traceparent`` in the envelope, see :func:`stamp`), so
one trace shows the request, its SQL, and every consumer's handling of what it published.
``nova_event_delivery_lag_seconds`` records commit → handling once per delivery attempt.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Protocol

from opentelemetry import trace

from nova.platform.observability import logs, metrics, tracing

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterator

__all__ = ["EventLike", "handling", "stamp"]

logger = logging.getLogger(__name__)


class EventLike(Protocol):
    """The envelope fields used here (``nova.platform.events.StoredEvent`` has them)."""

    @property
    def event_id(self) -> uuid.UUID: ...
    @property
    def event_type(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def trace_id(self) -> str | None: ...
    @property
    def occurred_at(self) -> dt.datetime: ...


def stamp(carried: str | None) -> str | None:
    """What an event written now should carry in its ``trace_id`` field.

    Keeps a value the producer set; otherwise the current ``traceparent`` (trace *and* span,
    so the consumer's span has a real parent), or None outside any trace.

    Example:
        >>> stamp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    """
    return carried or tracing.current_traceparent()


@contextlib.contextmanager
def handling(event: EventLike, *, consumer: str) -> Iterator[trace.Span]:
    """Span, log context and metrics around applying ``event`` (see the module docstring).

    Args:
        event: The delivered envelope.
        consumer: The consumer's stable name (a metric label: never per member or process).

    Yields:
        The consumer span.
    """
    lag = (dt.datetime.now(dt.UTC) - event.occurred_at).total_seconds()
    metrics.EVENT_DELIVERY_LAG.labels(consumer, event.event_type).observe(max(0.0, lag))
    attributes = {
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": consumer,
        "messaging.message.id": str(event.event_id),
        "event.type": event.event_type,
        "tenant.id": event.tenant_id,
    }
    outcome = "failed"
    started = time.perf_counter()
    with (
        tracing.tracer().start_as_current_span(
            f"process {event.event_type}",
            context=tracing.parent_context(event.trace_id),
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        ) as span,
        logs.bound(
            correlation_id=event.correlation_id or event.event_id.hex,
            **{
                "event.id": str(event.event_id),
                "event.type": event.event_type,
                "tenant.id": event.tenant_id,
                "messaging.consumer.group.name": consumer,
            },
        ),
    ):
        try:
            yield span
            outcome = "ok"
        finally:
            metrics.EVENTS_HANDLED.labels(consumer, event.event_type, outcome).inc()
            # DEBUG: one line per event and consumer is too many for INFO at fan-out rates.
            logger.debug(
                "event %s",
                "handled" if outcome == "ok" else "failed",
                extra={"duration_ms": round((time.perf_counter() - started) * 1e3, 3)},
            )
