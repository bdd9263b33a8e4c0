"""Publishing and handling events in the producer's trace: spans, log context, lag metrics.

A consumer wraps each event it applies::

    with handling.handling(event, consumer="feed.fanout"):
        await apply(event)

Inside, every log line carries the request's ``correlation_id`` and the consumer span's
``trace_id``/``span_id``, plus ``event.id``, ``event.type``, ``tenant.id`` and
``messaging.consumer.group.name``. The span is a child of the span that wrote the event
(``traceparent`` in the envelope, see :func:`stamp`), so
one trace shows the request, its SQL, and every consumer's handling of what it published.
``nova_event_delivery_lag_seconds`` records commit → handling once per delivery attempt.

The relay wraps each batch it hands to the event log::

    with handling.publishing(events):
        await log.publish(events)

which gives every event that carries a trace a PRODUCER span ``publish <type>`` in *that*
event's trace (a child of the span that wrote it), so the request's trace shows when its
events left the outbox. One span per event rather than one per batch: a batch mixes many
requests, and a batch span could only *link* to their traces, not be part of them.
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
    from collections.abc import Iterator, Sequence

__all__ = ["EventLike", "handling", "publishing", "stamp"]

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
    cid = event.correlation_id or event.event_id.hex
    attributes = {
        "messaging.operation.type": "process",
        "messaging.consumer.group.name": consumer,
        "messaging.message.id": str(event.event_id),
        "event.type": event.event_type,
        "tenant.id": event.tenant_id,
        "correlation_id": cid,
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
            correlation_id=cid,
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


@contextlib.contextmanager
def publishing(events: Sequence[EventLike]) -> Iterator[None]:
    """One PRODUCER span per event around publishing ``events`` as one batch.

    Each span is a child of the context the event carries (see :func:`stamp`); an event
    without one gets no span (it belongs to no request's trace). A failure marks every span.

    Args:
        events: The batch, as it is handed to the event log.
    """
    tracer = tracing.tracer()
    spans = [
        tracer.start_span(
            f"publish {event.event_type}",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.operation.type": "publish",
                "messaging.message.id": str(event.event_id),
                "messaging.batch.message_count": len(events),
                "event.type": event.event_type,
                "tenant.id": event.tenant_id,
                "correlation_id": event.correlation_id or event.event_id.hex,
            },
        )
        for event in events
        if (parent := tracing.parent_context(event.trace_id)) is not None
    ]
    try:
        yield
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        for span in spans:
            span.end()
