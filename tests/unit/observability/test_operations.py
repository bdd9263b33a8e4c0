from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from prometheus_client import REGISTRY

from nova.platform.context import Actor
from nova.platform.observability import logs, operations
from tests.unit.observability.conftest import parse_lines

if TYPE_CHECKING:
    import io

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclasses.dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_describe_labels_an_operation_by_its_root_field_not_the_client_name() -> None:
    op = operations.describe("query Anything { feed: homeFeed(first: 2) { partial } }", None)

    assert op == operations.Operation("query", "homeFeed", (("feed", "homeFeed"),))


def test_describe_picks_the_named_operation_of_a_document() -> None:
    query = 'query A { viewer { id } } mutation B { createPost(body: "x") { errors { code } } }'

    assert operations.describe(query, "B").label == "createPost"
    assert operations.describe(query, "B").type == "mutation"
    assert operations.describe(query, None).label == "other"  # ambiguous without a name


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("{ viewer { id } homeFeed { partial } }", "multiple"),
        ("{ a: homeFeed { partial } b: homeFeed { partial } }", "homeFeed"),
        ("{ __schema { types { name } } }", "introspection"),
        ("{ __typename }", "other"),
        ("{ not valid", "other"),
        (None, "other"),
    ],
)
def test_describe_has_a_bounded_label_for_every_document(query: str | None, label: str) -> None:
    assert operations.describe(query, None).label == label


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"data": {"x": 1}}, "ok"),
        (200, {"data": {"register": {"errors": [{"code": "USERNAME_TAKEN"}]}}}, "ok"),
        (200, {"errors": [{"extensions": {"code": "NOT_FOUND"}}]}, "client_error"),
        (400, {"errors": [{"extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}, "client_error"),
        (200, {"errors": [{"extensions": {"code": "INTERNAL"}}]}, "server_error"),
        (503, {"errors": [{"extensions": {"code": "UNAVAILABLE"}}]}, "server_error"),
        (200, None, "ok"),
    ],
)
def test_classify_separates_server_faults_from_client_faults(
    status: int, body: dict[str, Any] | None, outcome: str
) -> None:
    assert operations.classify(status, body) == outcome


async def test_observe_records_red_metrics_a_span_and_the_log_context(
    spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    before = sample("nova_graphql_requests_total", operation="homeFeed", outcome="ok")
    count_before = sample("nova_graphql_request_duration_seconds_count", operation="homeFeed")
    shown_before = sample("nova_feed_impressions_total")

    async def run() -> Answer:
        logging.getLogger("nova.test").info("resolving")
        return Answer(body={"data": {"homeFeed": {"edges": [{}, {}, {}]}}})

    with logs.bound(correlation_id="cid-12345678"):
        answer = await operations.observe(
            run(), query="query Home { homeFeed { edges { cursor } } }", operation_name="Home"
        )

    assert answer.status == 200
    assert sample("nova_graphql_requests_total", operation="homeFeed", outcome="ok") == before + 1
    assert (
        sample("nova_graphql_request_duration_seconds_count", operation="homeFeed")
        == count_before + 1
    )
    assert sample("nova_feed_impressions_total") == shown_before + 3
    (span,) = spans.get_finished_spans()
    assert span.name == "query homeFeed"
    assert span.attributes is not None
    assert span.attributes["graphql.operation.name"] == "Home"
    (line,) = parse_lines(log_lines)
    assert line["graphql.operation.name"] == "Home"
    assert line["graphql.operation.type"] == "query"
    assert line["correlation_id"] == "cid-12345678"
    assert line["span_id"] == f"{span.context.span_id:016x}"
    assert logs.check_line(line, required=logs.REQUIRED_IN_CONTEXT) == []


async def test_a_document_that_failed_validation_never_becomes_a_label() -> None:
    before = sample("nova_graphql_requests_total", operation="invalid", outcome="client_error")

    async def run() -> Answer:
        return Answer(400, {"errors": [{"extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]})

    await operations.observe(run(), query="{ userId12345 }", operation_name=None)

    after = sample("nova_graphql_requests_total", operation="invalid", outcome="client_error")
    assert after == before + 1
    assert sample("nova_graphql_requests_total", operation="userId12345", outcome="ok") == 0


async def test_business_counters_follow_only_successful_mutations() -> None:
    before = sample("nova_posts_total")
    query = 'mutation { p: createPost(body: "x") { errors { code } } }'

    async def ok() -> Answer:
        return Answer(body={"data": {"p": {"errors": []}}})

    async def refused() -> Answer:
        return Answer(body={"data": {"p": {"errors": [{"code": "INVALID_INPUT"}]}}})

    await operations.observe(ok(), query=query, operation_name=None)
    await operations.observe(refused(), query=query, operation_name=None)

    assert sample("nova_posts_total") == before + 1


async def test_a_raising_operation_counts_as_a_server_error() -> None:
    before = sample("nova_graphql_requests_total", operation="viewer", outcome="server_error")

    async def boom() -> Answer:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await operations.observe(boom(), query="{ viewer { id } }", operation_name=None)

    after = sample("nova_graphql_requests_total", operation="viewer", outcome="server_error")
    assert after == before + 1


def test_bind_actor_binds_user_and_tenant_for_logs(log_lines: io.StringIO) -> None:
    user = uuid.uuid4()
    with logs.bound(correlation_id="cid-12345678"):
        operations.bind_actor(Actor.user(user, tenant_id="t1"))
        logging.getLogger("nova.test").info("hello")
        structlog.contextvars.unbind_contextvars("user.id", "tenant.id")

    (line,) = parse_lines(log_lines)
    assert line["user.id"] == str(user)
    assert line["tenant.id"] == "t1"
