from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from nova.platform.observability import logs, metrics, slo

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "observability.md").read_text(encoding="utf-8")
DASHBOARD = ROOT / "deploy" / "grafana" / "nova.json"
METRIC = re.compile(r"\bnova_[a-z0-9_]+")
RECORDED = re.compile(r"\bslo:[a-z0-9_]+:error_ratio[0-9]+[smhd]\b")


def documented() -> set[str]:
    return set(re.findall(r"`(nova_[a-z0-9_]+)", DOC))


def test_the_vocabulary_table_in_the_docs_is_generated_from_the_code() -> None:
    block = DOC.split("<!-- vocabulary-table:start -->\n")[1].split("<!-- vocabulary-table:end")[0]

    assert block.strip() == logs.vocabulary_table()


def test_every_metric_family_is_documented_with_its_labels() -> None:
    for name, labels in metrics.FAMILIES.items():
        (row,) = [line for line in DOC.splitlines() if line.startswith(f"| `{name}` |")]
        cells = [cell.strip() for cell in row.split("|")]
        assert cells[3] == (", ".join(labels) if labels else "—"), name


async def test_a_scrape_exposes_every_family_once_defined() -> None:
    body, content_type = await metrics.scrape()

    assert content_type.startswith("text/plain")
    names = {s.name for f in text_string_to_metric_families(body.decode()) for s in f.samples}
    for name in metrics.FAMILIES:
        if name in {
            "nova_outbox_lag_seconds",
            "nova_db_statements_total",
            "nova_events_dead_letters",
        }:
            continue  # read from a live runtime at scrape time (integration test)
        labelled = name in {"nova_cache_hits_total", "nova_cache_misses_total"}
        if not labelled and not metrics.FAMILIES[name]:
            assert any(n == name or n.startswith(name) for n in names), name


def test_the_dashboard_references_only_documented_metrics_and_recorded_slos() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
        if "expr" in target
    ]
    rules = slo.generate(slo.load(ROOT / "slo.yaml"))
    records = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    known = documented() | {f"{n}_bucket" for n in documented()}

    assert len(exprs) >= 20
    for expr in exprs:
        for name in METRIC.findall(expr):
            assert name in known, f"{name} in the dashboard is not a documented metric"
        for record in RECORDED.findall(expr):
            assert record in records, record
    assert {"nova_graphql_request_duration_seconds", "nova_outbox_lag_seconds"} <= documented()


def test_slo_metrics_are_real_families_with_their_threshold_buckets() -> None:
    assert 0.025 in metrics.LATENCY_BUCKETS
    assert 2.0 in metrics.DELIVERY_LAG_BUCKETS
    for objective in slo.load(ROOT / "slo.yaml"):
        for name in METRIC.findall(json.dumps(dataclass_fields(objective))):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            assert base in metrics.FAMILIES, base


def dataclass_fields(objective: slo.SLO) -> dict[str, object]:
    return {name: str(getattr(objective, name)) for name in objective.__slots__}


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from nova.platform.observability import metrics
    metrics.GRAPHQL_REQUESTS.labels("homeFeed", "ok").inc(int(sys.argv[1]))
    if sys.argv[2] == "scrape":
        body, _ = asyncio.run(metrics.scrape())
        sys.stdout.write(body.decode())
    """
)


def test_multiprocess_mode_sums_every_workers_counters(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", WORKER, count, "-"], env=env, check=True)
    scraped = subprocess.run(
        [sys.executable, "-c", WORKER, "5", "scrape"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    assert 'nova_graphql_requests_total{operation="homeFeed",outcome="ok"} 10.0' in scraped
