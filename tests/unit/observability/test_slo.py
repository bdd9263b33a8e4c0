import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nova.platform.observability import slo

ROOT = Path(__file__).resolve().parents[3]


def test_feed_slo_alerts_match_the_sre_workbook_windows_and_thresholds() -> None:
    rules = slo.generate(slo.load(ROOT / "slo.yaml"))
    group = next(g for g in rules["groups"] if g["name"] == "slo-home_feed_latency")
    alerts = {r["alert"]: r for r in group["rules"] if "alert" in r}

    assert len(alerts) == 3
    page_fast = alerts["SLOBurn_home_feed_latency_1h_5m"]
    assert page_fast["expr"] == (
        "slo:home_feed_latency:error_ratio1h > (14.4 * 0.01)"
        " and slo:home_feed_latency:error_ratio5m > (14.4 * 0.01)"
    )
    assert page_fast["labels"]["severity"] == "page"
    page_slow = alerts["SLOBurn_home_feed_latency_6h_30m"]
    assert "(6.0 * 0.01)" in page_slow["expr"]
    assert page_slow["labels"]["severity"] == "page"
    ticket = alerts["SLOBurn_home_feed_latency_3d_6h"]
    assert "(1.0 * 0.01)" in ticket["expr"]
    assert ticket["labels"]["severity"] == "ticket"


def test_every_window_an_alert_uses_is_recorded() -> None:
    rules = slo.generate(slo.load(ROOT / "slo.yaml"))
    for group in rules["groups"]:
        recorded = {r["record"] for r in group["rules"] if "record" in r}
        for alert in (r for r in group["rules"] if "alert" in r):
            for term in alert["expr"].split(" and "):
                assert term.split(" > ")[0] in recorded


def test_latency_sli_counts_requests_under_the_threshold_bucket() -> None:
    objective = slo.load(ROOT / "slo.yaml")[0]
    expr = objective.error_ratio("5m")
    assert 'nova_graphql_request_duration_seconds_bucket{operation="homeFeed",le="0.025"}' in expr
    assert "nova_graphql_request_duration_seconds_count" in expr


def test_generated_rules_pass_the_structural_check() -> None:
    assert slo.check(slo.generate(slo.load(ROOT / "slo.yaml"))) == []


def test_committed_rules_are_up_to_date() -> None:
    committed = yaml.safe_load((ROOT / "deploy/prometheus/nova-slo.rules.yaml").read_text())
    assert committed == slo.generate(slo.load(ROOT / "slo.yaml")), "run `nova slo generate`"


def test_bad_objective_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "slo.yaml"
    bad.write_text(
        "slos:\n  - name: x\n    objective: 1.5\n    sli: {kind: ratio, good: a, total: b}\n"
    )
    with pytest.raises(ValueError, match="between 0 and 1"):
        slo.load(bad)


def test_check_reports_duplicates_and_unbalanced_expressions() -> None:
    rules = {
        "groups": [
            {
                "name": "g",
                "rules": [
                    {"record": "a:b", "expr": "sum(x"},
                    {"record": "a:b", "expr": "y"},
                ],
            }
        ]
    }
    problems = slo.check(rules)
    assert len(problems) == 2


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_committed_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ROOT / "deploy/prometheus/nova-slo.rules.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
