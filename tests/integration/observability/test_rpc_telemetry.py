"""gRPC calls are observable on both ends: one trace, the caller's log context, RED metrics.

A real ``grpc.aio`` server (the transport tests' fake users service) and a real
:class:`~nova.platform.rpc.RpcTarget` on loopback, spans recorded in memory.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from opentelemetry import trace
from prometheus_client import REGISTRY

from nova.pb import users_pb2 as pb
from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.observability import logs, tracing
from nova.platform.rpc import ClientPolicy, RpcTarget, ServerPolicy, start_server
from nova.users.api import SERVICE_NAME
from tests.integration.rpc.fakes import FakeUsers

if TYPE_CHECKING:
    import io
    from collections.abc import AsyncIterator

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from nova.platform.rpc import RpcServer

pytestmark = pytest.mark.integration

ACTOR = Actor.user(uuid.uuid4(), tenant_id="t1", correlation_id="rpc-telemetry-0123456789")
POLICY = ClientPolicy(caller="test", timeout=2.0)


@pytest.fixture
def log_service() -> str:
    return "users"  # the lines of a users process serving gRPC


@pytest_asyncio.fixture(loop_scope="session")
async def target() -> AsyncIterator[RpcTarget]:
    server: RpcServer = await start_server(
        [FakeUsers().definition()], address="127.0.0.1:0", policy=ServerPolicy()
    )
    client = RpcTarget(
        SERVICE_NAME, name="users", addresses=f"127.0.0.1:{server.port}", policy=POLICY
    )
    try:
        yield client
    finally:
        await client.close()
        await server.stop(0)


async def _get_users(target: RpcTarget) -> None:
    reply = await target.call(
        "GetUsers", pb.IdsRequest(ids=[str(uuid.uuid4())]), pb.UsersById, ACTOR, idempotent=True
    )
    assert len(reply.users) == 1


def _one(spans: tuple[ReadableSpan, ...], kind: trace.SpanKind) -> ReadableSpan:
    (span,) = [s for s in spans if s.kind is kind and s.name == f"{SERVICE_NAME}/GetUsers"]
    return span


async def test_a_call_is_a_client_and_a_server_span_in_the_callers_trace(
    target: RpcTarget, exporter: InMemorySpanExporter
) -> None:
    exporter.clear()

    with tracing.tracer().start_as_current_span("request") as request:
        await _get_users(target)

    spans = exporter.get_finished_spans()
    client, server = _one(spans, trace.SpanKind.CLIENT), _one(spans, trace.SpanKind.SERVER)
    trace_id = request.get_span_context().trace_id
    assert {client.context.trace_id, server.context.trace_id} == {trace_id}
    assert client.parent is not None
    assert client.parent.span_id == request.get_span_context().span_id
    # The client span's traceparent travelled in the metadata: the server span is its child.
    assert server.parent is not None
    assert server.parent.span_id == client.context.span_id
    assert server.parent.is_remote
    attributes = dict(server.attributes or {})
    assert attributes["rpc.service"] == SERVICE_NAME
    assert attributes["rpc.method"] == "GetUsers"
    assert attributes["rpc.grpc.status_code"] == 0
    assert attributes["correlation_id"] == ACTOR.correlation_id
    assert (client.attributes or {})["rpc.grpc.status_code"] == 0


async def test_every_line_inside_a_handler_carries_trace_span_and_correlation(
    target: RpcTarget, exporter: InMemorySpanExporter, log_buffer: io.StringIO
) -> None:
    exporter.clear()

    with tracing.tracer().start_as_current_span("request") as request:
        await _get_users(target)

    server = _one(exporter.get_finished_spans(), trace.SpanKind.SERVER)
    lines = [json.loads(line) for line in log_buffer.getvalue().splitlines() if line.strip()]
    (served,) = [line for line in lines if line["message"] == "rpc served"]
    assert logs.check_line(served, required=logs.REQUIRED_IN_CONTEXT) == [], served
    assert served["correlation_id"] == ACTOR.correlation_id
    assert served["trace_id"] == f"{request.get_span_context().trace_id:032x}"
    assert served["span_id"] == f"{server.context.span_id:016x}"
    assert served["rpc.method"] == "UsersService.GetUsers"
    assert served["tenant.id"] == ACTOR.tenant_id
    assert served["user.id"] == str(ACTOR.user_id)
    assert "error.type" not in served


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_both_ends_count_calls_and_latency_per_method_and_code(target: RpcTarget) -> None:
    ok = {"service": SERVICE_NAME, "method": "GetUsers", "code": "OK"}
    missing = {"service": SERVICE_NAME, "method": "FollowerCount", "code": "NOT_FOUND"}
    before = {
        (end, code): _value(f"nova_rpc_{end}_requests_total", **labels)
        for end in ("server", "client")
        for code, labels in (("ok", ok), ("missing", missing))
    }
    latency_before = _value(
        "nova_rpc_client_request_duration_seconds_count", service=SERVICE_NAME, method="GetUsers"
    )

    await _get_users(target)
    await _get_users(target)
    with pytest.raises(errors.NotFoundError):
        await target.call(
            "FollowerCount",
            pb.UserIdRequest(user_id=str(uuid.uuid4())),
            pb.Count,
            ACTOR,
            idempotent=True,
        )

    for end in ("server", "client"):
        assert _value(f"nova_rpc_{end}_requests_total", **ok) == before[end, "ok"] + 2
        assert _value(f"nova_rpc_{end}_requests_total", **missing) == before[end, "missing"] + 1
    assert (
        _value(
            "nova_rpc_client_request_duration_seconds_count",
            service=SERVICE_NAME,
            method="GetUsers",
        )
        == latency_before + 2
    )
    # Buckets fine enough for a 1-50 ms objective (no timing asserted: a shared machine).
    assert (
        REGISTRY.get_sample_value(
            "nova_rpc_server_request_duration_seconds_bucket",
            {"service": SERVICE_NAME, "method": "GetUsers", "le": "0.025"},
        )
        is not None
    )
