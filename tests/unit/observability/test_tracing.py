from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from prometheus_client import REGISTRY

from nova.platform.observability import handling, logs, tracing
from tests.unit.observability.conftest import parse_lines

if TYPE_CHECKING:
    import io

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclasses.dataclass(frozen=True)
class Envelope:
    event_type: str = "PostPublished"
    tenant_id: str = "default"
    correlation_id: str | None = "cid-12345678"
    trace_id: str | None = None
    event_id: uuid.UUID = dataclasses.field(default_factory=uuid.uuid4)
    occurred_at: dt.datetime = dataclasses.field(
        default_factory=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1.5)
    )


def test_outside_a_span_there_is_no_traceparent_to_carry() -> None:
    assert tracing.current_traceparent() is None
    assert handling.stamp(None) is None


def test_an_event_written_in_a_request_carries_its_traceparent(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.tracer().start_as_current_span("request") as span:
        carried = handling.stamp(None)

    context = span.get_span_context()
    assert carried is not None
    assert carried.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert handling.stamp("kept-by-producer") == "kept-by-producer"


def test_handling_an_event_continues_the_producers_trace_with_context_and_metrics(
    spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    with tracing.tracer().start_as_current_span("request") as producer:
        event = Envelope(trace_id=handling.stamp(None))
    labels = {"consumer": "feed.fanout", "event_type": "PostPublished"}
    slow_before = REGISTRY.get_sample_value(
        "nova_event_delivery_lag_seconds_bucket", {**labels, "le": "1.0"}
    )
    total_before = REGISTRY.get_sample_value("nova_event_delivery_lag_seconds_count", labels)

    with handling.handling(event, consumer="feed.fanout"):
        logging.getLogger("nova.feed").info("pushed to 3 timelines")

    consumer = next(s for s in spans.get_finished_spans() if s.name == "process PostPublished")
    assert consumer.kind is trace.SpanKind.CONSUMER
    assert consumer.context.trace_id == producer.get_span_context().trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.get_span_context().span_id
    lines = parse_lines(log_lines)
    assert [line["message"] for line in lines] == ["pushed to 3 timelines", "event handled"]
    for line in lines:
        assert logs.check_line(line, required=logs.REQUIRED_IN_CONTEXT) == []
        assert line["correlation_id"] == "cid-12345678"
        assert line["event.id"] == str(event.event_id)
        assert line["messaging.consumer.group.name"] == "feed.fanout"
    assert (
        REGISTRY.get_sample_value("nova_event_delivery_lag_seconds_count", labels)
        == (total_before or 0) + 1
    )
    # 1.5 s late: over the 1 s boundary, under the 2 s objective.
    assert REGISTRY.get_sample_value(
        "nova_event_delivery_lag_seconds_bucket", {**labels, "le": "1.0"}
    ) == (slow_before or 0)


def test_a_failing_handler_is_counted_and_its_error_propagates() -> None:
    labels = {"consumer": "c", "event_type": "PostPublished", "outcome": "failed"}
    before = REGISTRY.get_sample_value("nova_events_handled_total", labels) or 0

    with pytest.raises(ValueError, match="bad"), handling.handling(Envelope(), consumer="c"):
        raise ValueError("bad")

    assert REGISTRY.get_sample_value("nova_events_handled_total", labels) == before + 1


def test_a_bare_trace_id_still_joins_the_trace(spans: InMemorySpanExporter) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"

    with handling.handling(Envelope(trace_id=trace_id), consumer="c"):
        pass

    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == trace_id


def test_garbage_in_the_envelope_starts_a_new_trace() -> None:
    assert tracing.parent_context("not-a-traceparent") is None
    assert tracing.parent_context(None) is None


def test_publishing_is_a_producer_span_in_each_events_own_trace(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.tracer().start_as_current_span("request a") as a:
        first = Envelope(trace_id=handling.stamp(None), correlation_id="cid-a-12345")
    with tracing.tracer().start_as_current_span("request b") as b:
        second = Envelope(event_type="Liked", trace_id=handling.stamp(None))
    untraced = Envelope(trace_id=None)

    with handling.publishing([first, second, untraced]):
        pass

    published = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    assert sorted(s.name for s in published) == ["publish Liked", "publish PostPublished"]
    for span, writer in zip(published, (a, b), strict=True):
        assert span.parent is not None
        assert span.parent.span_id == writer.get_span_context().span_id
        assert span.context.trace_id == writer.get_span_context().trace_id
        assert (span.attributes or {})["messaging.batch.message_count"] == 3
    assert (published[0].attributes or {})["correlation_id"] == "cid-a-12345"


def test_a_failed_publish_marks_every_span_and_propagates(spans: InMemorySpanExporter) -> None:
    with tracing.tracer().start_as_current_span("request"):
        events = [Envelope(trace_id=handling.stamp(None)) for _ in range(2)]

    with pytest.raises(ConnectionError), handling.publishing(events):
        raise ConnectionError("broker down")

    published = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    assert len(published) == 2
    assert all(s.status.status_code is trace.StatusCode.ERROR for s in published)
    assert all(s.events[0].name == "exception" for s in published)


def test_the_trace_id_of_what_an_envelope_carried() -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"

    assert tracing.trace_id_of(f"00-{trace_id}-b7ad6b7169203331-01") == trace_id
    assert tracing.trace_id_of(trace_id) == trace_id
    assert tracing.trace_id_of("not-a-traceparent") is None
    assert tracing.trace_id_of(None) is None
