from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx
from opentelemetry import trace
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from nova.platform.observability import RequestTelemetry, logs
from tests.unit.observability.conftest import parse_lines

if TYPE_CHECKING:
    import io

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from starlette.requests import Request

TRACE = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE}-b7ad6b7169203331-01"


async def hello(_: Request) -> PlainTextResponse:
    logging.getLogger("nova.test").info("inside the handler")
    return PlainTextResponse("hi")


async def boom(_: Request) -> PlainTextResponse:
    raise RuntimeError("boom")


def served(buffer: io.StringIO) -> list[dict[str, object]]:
    """Lines logged by the app (the test's own HTTP client logs too)."""
    return [line for line in parse_lines(buffer) if line["logger"] != "httpx"]


def client() -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/hello", hello), Route("/boom", boom)],
        middleware=[Middleware(RequestTelemetry)],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_request_without_ids_gets_its_trace_id_as_correlation_id(
    spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    async with client() as http:
        response = await http.get("/hello")

    cid = response.headers["x-request-id"]
    (span,) = spans.get_finished_spans()
    assert cid == f"{span.context.trace_id:032x}"
    assert span.kind is trace.SpanKind.SERVER
    assert span.name == "GET /hello"
    lines = served(log_lines)
    assert [line["message"] for line in lines] == ["inside the handler", "request served"]
    for line in lines:
        assert line["correlation_id"] == cid
        assert line["trace_id"] == cid
        assert line["http.route"] == "/hello"
        assert logs.check_line(line, required=logs.REQUIRED_IN_CONTEXT) == []
    assert lines[1]["http.response.status_code"] == 200
    assert isinstance(lines[1]["duration_ms"], float)


async def test_a_client_traceparent_continues_its_trace(spans: InMemorySpanExporter) -> None:
    async with client() as http:
        response = await http.get("/hello", headers={"traceparent": TRACEPARENT})

    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert response.headers["x-request-id"] == TRACE


async def test_a_sane_client_request_id_is_kept_and_an_unsafe_one_replaced() -> None:
    async with client() as http:
        kept = await http.get("/hello", headers={"x-request-id": "req-12345678"})
        replaced = await http.get("/hello", headers={"x-request-id": "bad id\nwith newline"})

    assert kept.headers["x-request-id"] == "req-12345678"
    assert replaced.headers["x-request-id"] != "bad id\nwith newline"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_an_unhandled_error_answers_500_with_the_id_and_logs_it_in_context(
    log_lines: io.StringIO,
) -> None:
    async with client() as http:
        response = await http.get("/boom")

    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    cid = response.headers["x-request-id"]
    lines = served(log_lines)
    (error,) = [line for line in lines if line["level"] == "error"]
    assert error["correlation_id"] == cid
    assert "RuntimeError: boom" in str(error["exception"])
    (access,) = [line for line in lines if line["message"] == "request served"]
    assert access["http.response.status_code"] == 500


async def test_http_metrics_have_bounded_route_labels() -> None:
    def count(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return REGISTRY.get_sample_value("nova_http_requests_total", labels) or 0.0

    before_known, before_other = count("/hello", "200"), count("other", "404")
    async with client() as http:
        await http.get("/hello")
        await http.get("/users/12345/secret")

    assert count("/hello", "200") == before_known + 1
    assert count("other", "404") == before_other + 1
    assert count("/users/12345/secret", "404") == 0


async def test_fields_bound_downstream_end_with_the_request(log_lines: io.StringIO) -> None:
    async def binds(_: Request) -> PlainTextResponse:
        logs.bind(**{"user.id": "u-1"})
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/binds", binds)], middleware=[Middleware(RequestTelemetry)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/binds")
    logging.getLogger("nova.test").info("after")

    lines = served(log_lines)
    assert lines[0]["user.id"] == "u-1"  # the access line, still inside the request
    assert "user.id" not in lines[-1]
    assert "correlation_id" not in lines[-1]
