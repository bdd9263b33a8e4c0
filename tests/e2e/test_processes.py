"""`nova up --processes` as a real process tree: one request is one trace and one correlation
id in every process it touched (spans exported over OTLP/HTTP to a receiver in the test, log
lines as JSON), the gRPC and coalescer metrics move, and SIGTERM stops every child and engine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.otlp import Collector, Exported
from tests.e2e.test_cli import _engine_processes, _env, _free_port, _gone, data_dir

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["data_dir"]  # the fixture, re-exported so pytest collects it here

pytestmark = pytest.mark.e2e

REQUEST_ID = "e2e-processes-0123456789abcdef"
PASSWORD = "correct horse battery"
REGISTER = (
    'mutation { register(username: "procs", email: "procs@example.org",'
    f' password: "{PASSWORD}") {{ user {{ id }} errors {{ code }} }} }}'
)
LOGIN = (
    f'mutation {{ login(usernameOrEmail: "procs", password: "{PASSWORD}")'
    " { accessToken errors { code } } }"
)
#: The author is hydrated through the gateway's users coalescer: one more process, one more hop.
PUBLISH = (
    'mutation Publish { createPost(body: "hello from every process")'
    " { post { id author { username } } errors { code } } }"
)


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path, within: float) -> None:
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        if process.poll() is not None:
            pytest.fail(f"nova up --processes exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"nova up --processes not ready within {within}s:\n{log.read_text()}")


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def _start(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    # The service children inherit the parent's stdout/stderr: one file holds every process.
    with log.open("w") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "nova", "up", "--processes"],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _stop(parent: subprocess.Popen[bytes], children: list[psutil.Process]) -> int:
    if parent.poll() is None:
        parent.send_signal(signal.SIGTERM)
    try:
        code = parent.wait(timeout=20)
    except subprocess.TimeoutExpired:
        parent.kill()
        parent.wait(timeout=10)
        code = -1
    for child in children:  # never leave a service behind, even on failure
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
    return code


def _gql(base: str, query: str, *, token: str | None = None, request_id: str) -> httpx.Response:
    headers = {"X-Request-Id": request_id}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=10)


RECOMMENDED = "{ recommendedFeed(first: 5) { source edges { node { id } reason { score } } } }"


def _click(post_id: str) -> str:
    return (
        f'mutation {{ recordRecommendationClick(postId: "{post_id}", idempotencyKey: "e2e-click")'
        " { recorded errors { code } } }"
    )


def _sunk(scrape: str) -> dict[str, float]:
    """Events the analytics sink (consumer ``analytics``) handled, by event type."""
    handled = _samples(scrape, "nova_events_handled_total")
    sunk: dict[str, float] = {}
    for labels, value in handled.items():
        named = dict(labels)
        if named.get("consumer") == "analytics" and named.get("outcome") == "ok":
            sunk[named["event_type"]] = sunk.get(named["event_type"], 0.0) + value
    return sunk


def _wait_sunk(url: str, event_types: set[str], within: float) -> dict[str, float]:
    """The recs process's sink counts, once it has handled every type in ``event_types``."""
    give_up = time.monotonic() + within
    sunk: dict[str, float] = {}
    while time.monotonic() < give_up:
        sunk = _sunk(httpx.get(url, timeout=10).text)
        if event_types <= set(sunk):
            break
        time.sleep(0.2)
    return sunk


#: (process, span name suffix) that must all have arrived before the trace is judged: each
#: process exports on its own schedule, so the consumer's span may come before the gateway's.
EXPECTED = (
    ("gateway", "POST /graphql"),
    ("gateway", "mutation createPost"),
    ("content", "ContentService/PublishPost"),
    ("users", "UsersService/GetUsers"),
    ("users", "publish PostPublished"),
    ("users", "process PostPublished"),
)


def _whole_trace(collector: Collector, within: float) -> tuple[str, list[Exported]]:
    """The trace of the request ``REQUEST_ID``, once every expected span has arrived."""
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        roots = [
            s
            for s in collector.spans
            if s.kind == "server" and s.attributes.get("correlation_id") == REQUEST_ID
        ]
        if roots:
            trace_id = roots[0].trace_id
            spans = collector.trace(trace_id)
            arrived = {(s.service, s.name) for s in spans}
            if all(
                any(service == got and name.endswith(suffix) for got, name in arrived)
                for service, suffix in EXPECTED
            ):
                time.sleep(0.3)  # stragglers of the same processes (more consumers, SQL)
                return trace_id, collector.trace(trace_id)
        time.sleep(0.1)
    names = sorted({(s.service, s.name) for s in collector.spans})
    pytest.fail(f"no complete trace of {REQUEST_ID} within {within}s; spans seen: {names}")


def _ancestors(span: Exported, by_id: dict[str, Exported]) -> list[str]:
    names = []
    parent = by_id.get(span.parent_id)
    while parent is not None:
        names.append(f"{parent.service}:{parent.name}")
        parent = by_id.get(parent.parent_id)
    return names


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_one_request_is_one_trace_and_one_correlation_id_in_every_process(
    data_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    rpc = {
        f"NOVA_RPC_{name}_ADDRESSES": f"127.0.0.1:{_free_port()}"
        for name in ("USERS", "CONTENT", "FEED", "RECS")
    }
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    metrics_port = _free_port()  # users; content, feed and recs take the next three
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "nova-up-processes.log"
    children: list[psutil.Process] = []
    served: list[str] = []
    with Collector() as collector:
        env = _env(
            data_dir,
            port,
            NOVA_LOG_FORMAT="json",
            # DEBUG: the consumers' "event handled" lines are the users process's lines.
            NOVA_LOG_LEVEL="DEBUG",
            NOVA_OTLP_ENDPOINT=collector.endpoint,
            # Export within 0.1 s rather than the default 5 s (the children inherit both).
            OTEL_BSP_SCHEDULE_DELAY="100",
            # Every process writes its counters here; the gateway's /metrics sums them.
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            NOVA_METRICS_PORT=str(metrics_port),
            **rpc,
        )
        parent = _start(env, tmp_path, log)
        try:
            _wait_ready(parent, base, log, within=60.0)
            children = psutil.Process(parent.pid).children(recursive=True)
            served = sorted(c.cmdline()[-1] for c in children if "serve" in c.cmdline())
            engines = _engine_processes(data_dir)
            registered = _gql(base, REGISTER, request_id="e2e-processes-register")
            token = _gql(base, LOGIN, request_id="e2e-processes-login").json()["data"]["login"][
                "accessToken"
            ]
            response = _gql(base, PUBLISH, token=token, request_id=REQUEST_ID)
            trace_id, spans = _whole_trace(collector, within=30.0)
            scraped = httpx.get(f"{base}/metrics", timeout=10).text
            # Each service process serves its own /metrics (a cluster scrapes every pod).
            users_scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
            content_scrape = httpx.get(f"http://127.0.0.1:{metrics_port + 1}/metrics", timeout=10)
            # recommendations come from the recs process, which owns the embedded ClickHouse
            # and runs the analytics sink: the post and the served page land there
            recommended = _gql(base, RECOMMENDED, token=token, request_id="e2e-processes-recs")
            post_id = response.json()["data"]["createPost"]["post"]["id"]
            clicked = _gql(base, _click(post_id), token=token, request_id="e2e-processes-click")
            recs_metrics = f"http://127.0.0.1:{metrics_port + 3}/metrics"
            sunk = _wait_sunk(recs_metrics, {"PostPublished", "RecommendationsServed"}, 30.0)
            health = httpx.get(f"{base}/healthz", timeout=10)
            time.sleep(0.5)  # let the children flush their lines of the request
        finally:
            code = _stop(parent, children)
    output = log.read_text()

    # the request itself, and the process tree
    assert registered.json()["data"]["register"]["errors"] == [], registered.text
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["createPost"]
    assert payload["errors"] == [], response.text
    assert payload["post"]["author"]["username"] == "procs"
    assert response.headers["x-request-id"] == REQUEST_ID
    assert served == ["content", "feed", "recs", "users"], served
    feed = recommended.json()["data"]["recommendedFeed"]
    assert feed["source"] in {"RECOMMENDED", "CHRONOLOGICAL_FALLBACK"}, recommended.text
    click = clicked.json()["data"]["recordRecommendationClick"]
    assert click == {"recorded": True, "errors": []}, clicked.text
    assert {"PostPublished", "RecommendationsServed", "RecommendationClicked"} <= set(sunk), sunk
    checks = health.json()["checks"]
    assert health.status_code == 200, health.text
    assert [checks[name]["status"] for name in ("users", "content", "feed", "recs")] == ["ok"] * 4
    assert "clickhouse" not in checks  # embedded: the recs process's, not the gateway's

    # one trace: gateway -> content (+ its SQL) -> relay publish -> consumers, users lookup
    by_id = {s.span_id: s for s in spans}
    services = {s.service for s in spans}
    assert {"gateway", "content", "users"} <= services, services
    (root,) = [s for s in spans if s.service == "gateway" and s.name == "POST /graphql"]
    assert root.parent_id == "" or root.parent_id not in by_id
    create = next(
        s for s in spans if s.service == "content" and s.name.endswith("ContentService/PublishPost")
    )
    assert create.kind == "server"
    assert "gateway:mutation createPost" in _ancestors(create, by_id)
    client = by_id[create.parent_id]
    assert (client.service, client.kind) == ("gateway", "client")
    sql = [s for s in spans if s.service == "content" and s.attributes.get("db.system")]
    assert sql, "the content service's SQL is in the trace"
    assert all(create.service + ":" + create.name in _ancestors(s, by_id) for s in sql)
    publish = [s for s in spans if s.kind == "producer" and s.name == "publish PostPublished"]
    assert len(publish) == 1, publish
    assert publish[0].service == "users"  # the users process runs the relay
    assert create.service + ":" + create.name in _ancestors(publish[0], by_id)
    fanout = next(
        s for s in spans if s.attributes.get("messaging.consumer.group.name") == "feed.fanout"
    )
    assert (fanout.service, fanout.kind, fanout.name) == (
        "users",
        "consumer",
        "process PostPublished",
    )
    assert "gateway:POST /graphql" in _ancestors(fanout, by_id)
    lookup = [s for s in spans if s.service == "users" and s.name.endswith("UsersService/GetUsers")]
    assert lookup, "the author's hydration reached the users process in the same trace"
    entry = [s for s in spans if s.kind in {"server", "consumer", "producer"}]
    assert all(s.attributes.get("correlation_id") == REQUEST_ID for s in entry), entry

    # logs: every line of the request, in every process, names its correlation id and trace
    lines = [line for line in _json_lines(output) if line.get("correlation_id") == REQUEST_ID]
    by_service: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_service.setdefault(str(line.get("service.name")), []).append(line)
    assert {"gateway", "content", "users"} <= set(by_service), sorted(by_service)
    for line in lines:
        assert line.get("trace_id") == trace_id, line
        assert line.get("span_id"), line
    assert any(line["message"] == "rpc served" for line in by_service["content"])
    assert any("event.id" in line for line in by_service["users"])

    # metrics: per-method RED on both ends (the gateway sums every process), coalescer batches
    labels = (
        ("code", "OK"),
        ("method", "PublishPost"),
        ("service", "nova.content.v1.ContentService"),
    )
    assert _samples(scraped, "nova_rpc_client_requests_total").get(labels) == 1.0, scraped
    assert _samples(scraped, "nova_rpc_server_requests_total").get(labels) == 1.0, scraped
    durations = _samples(scraped, "nova_rpc_server_request_duration_seconds_count")
    assert durations.get(labels[1:]) == 1.0
    batches = _samples(scraped, "nova_coalescer_batch_size_count")
    assert batches.get((("name", "users"),), 0) >= 1, batches
    assert content_scrape.status_code == 200
    assert _samples(content_scrape.text, "nova_rpc_server_requests_total").get(labels) == 1.0
    assert users_scrape.status_code == 200
    # the users process runs the event pipeline: its outbox age and consumer lag
    assert "nova_outbox_lag_seconds" in users_scrape.text, users_scrape.text
    assert "nova_events_consumer_lag{" in users_scrape.text, users_scrape.text

    assert code == 0, output
    assert _gone(children), "no service process may outlive nova up --processes"
    assert _gone(engines), "no engine process may outlive nova up --processes"
