"""Acceptance of issue 8 on the single-process server: logs, one trace, and ``/metrics``.

Drives ``nova.server.build`` under uvicorn on a loopback port, as ``nova up`` serves it.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families

from nova.platform.observability import logs, metrics
from tests.integration.serving import gql, serving, sign_up

if TYPE_CHECKING:
    import io
    from collections.abc import AsyncIterator

    import httpx
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from nova.platform.config import Settings

pytestmark = pytest.mark.integration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
#: Keys that only appear on lines logged while handling a request or an event.
CONTEXT_MARKERS = ("http.route", "event.id", "graphql.operation.name")
#: Families with no sample until a gRPC call, a coalesced lookup or a deduplicated load ran:
#: none happens in the single-process wiring (tests/e2e/test_processes.py and the unit tests
#: of the rpc and resilience packages see them move).
PROCESS_WIRING_ONLY = frozenset(
    {
        "nova_rpc_server_requests_total",
        "nova_rpc_server_request_duration_seconds",
        "nova_rpc_client_requests_total",
        "nova_rpc_client_request_duration_seconds",
        "nova_rpc_client_retries_total",
        "nova_coalescer_batch_size",
        "nova_singleflight_waiters",
    }
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings) as client:
        yield client


async def _publish_traced_post(http: httpx.AsyncClient, token: str) -> httpx.Response:
    response = await http.post(
        "/graphql",
        json={"query": 'mutation Publish { createPost(body: "hello") { errors { code } } }'},
        headers={"authorization": f"Bearer {token}", "traceparent": TRACEPARENT},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["createPost"]["errors"] == []
    return response


async def _wait_for_consumers(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    async with asyncio.timeout(15):
        while True:
            spans = [s for s in exporter.get_finished_spans() if _trace_of(s) == TRACE]
            handled = {
                (s.attributes or {}).get("messaging.consumer.group.name")
                for s in spans
                if s.kind is trace.SpanKind.CONSUMER
            }
            if "feed.fanout" in handled:
                return spans
            await asyncio.sleep(0.05)


def _trace_of(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        names.append(by_id[parent.span_id].name)
        parent = by_id[parent.span_id].parent
    return names


async def test_one_published_post_is_one_trace_from_gateway_through_sql_to_consumers(
    http: httpx.AsyncClient, exporter: InMemorySpanExporter, log_buffer: io.StringIO
) -> None:
    _, token = await sign_up(http, "alice")
    exporter.clear()

    response = await _publish_traced_post(http, token)
    spans = await _wait_for_consumers(exporter)

    assert response.headers["x-request-id"] == TRACE
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    (gateway,) = [s for s in spans if s.kind is trace.SpanKind.SERVER]
    assert gateway.name == "POST /graphql"
    (operation,) = [s for s in spans if s.name == "mutation createPost"]
    assert operation.parent is not None
    assert operation.parent.span_id == gateway.context.span_id
    sql = [s for s in spans if (s.attributes or {}).get("db.system") == "postgresql"]
    assert sql
    assert all("POST /graphql" in _ancestors(s, by_id) for s in sql)
    # Authentication runs before the operation; the post and its outbox row inside it.
    assert any("mutation createPost" in _ancestors(s, by_id) for s in sql)
    fanout = next(
        s
        for s in spans
        if s.kind is trace.SpanKind.CONSUMER
        and (s.attributes or {}).get("messaging.consumer.group.name") == "feed.fanout"
    )
    assert fanout.name == "process PostPublished"
    assert "mutation createPost" in _ancestors(fanout, by_id)
    assert "POST /graphql" in _ancestors(fanout, by_id)
    # The relay's publish of the post's event is in the request's trace too.
    (publish,) = [s for s in spans if s.kind is trace.SpanKind.PRODUCER]
    assert publish.name == "publish PostPublished"
    assert "mutation createPost" in _ancestors(publish, by_id)
    assert (publish.attributes or {}).get("correlation_id") == TRACE


async def test_every_line_inside_a_request_or_event_handler_carries_trace_and_correlation(
    http: httpx.AsyncClient, exporter: InMemorySpanExporter, log_buffer: io.StringIO
) -> None:
    _, token = await sign_up(http, "bob")
    await gql(http, "{ homeFeed(first: 5) { partial } }", token=token)
    await _publish_traced_post(http, token)
    await _wait_for_consumers(exporter)
    await asyncio.sleep(0.2)  # let the other consumers log their handling too

    lines = [json.loads(line) for line in log_buffer.getvalue().splitlines() if line.strip()]
    inside = [line for line in lines if any(key in line for key in CONTEXT_MARKERS)]
    for line in lines:
        assert logs.check_line(line) == [], line
    for line in inside:
        assert logs.check_line(line, required=logs.REQUIRED_IN_CONTEXT) == [], line
    served = [line for line in inside if line["message"] == "request served"]
    assert len(served) == 4  # register, login, feed, publish
    assert any(line["correlation_id"] == TRACE for line in served)
    handled = [line for line in inside if "event.id" in line]
    assert any(
        line["correlation_id"] == TRACE and line["messaging.consumer.group.name"] == "feed.fanout"
        for line in handled
    ), "the request's correlation id reaches the consumer's log lines"
    assert all(line["trace_id"] == TRACE for line in handled if line["correlation_id"] == TRACE)


async def test_metrics_expose_the_documented_families_with_bounded_labels(
    http: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    user_id, token = await sign_up(http, "carol")
    await gql(http, "{ homeFeed(first: 5) { partial } }", token=token)
    await _publish_traced_post(http, token)
    await _wait_for_consumers(exporter)

    response = await http.get("/metrics")

    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = {s.name: s for f in families.values() for s in f.samples}
    for name, labels in metrics.FAMILIES.items():
        if name in PROCESS_WIRING_ONLY:
            continue
        assert any(
            s == name or s.startswith(f"{name}_") or s == f"{name}_total" for s in samples
        ), f"{name} missing from /metrics"
        for sample in (s for f in families.values() for s in f.samples):
            if sample.name in {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"}:
                assert set(sample.labels) - {"le"} == set(labels), (name, sample.labels)
    for family in families.values():
        for sample in family.samples:
            for value in sample.labels.values():
                assert user_id not in value
                assert not UUID.search(value), (sample.name, sample.labels)
    ok = 'nova_graphql_requests_total{operation="createPost",outcome="ok"}'
    assert ok in response.text
    assert 'nova_graphql_request_duration_seconds_bucket{le="0.025",operation="homeFeed"}' in (
        response.text
    )
    assert "nova_outbox_lag_seconds " in response.text
    assert 'nova_cache_hits_total{cache="users"}' in response.text
