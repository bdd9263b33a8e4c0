"""``nova bench`` reports ClickHouse queries per request of the recommended feed."""

from __future__ import annotations

import pytest

from nova.bench import probes


def test_recs_counters_become_clickhouse_queries_per_request() -> None:
    before = {"recs_events:RECOMMENDED": 10.0, "recs_events:clickhouse_queries": 4.0}
    after = {
        "recs_events:RECOMMENDED": 160.0,
        "recs_events:CHRONOLOGICAL_FALLBACK": 50.0,
        "recs_events:clickhouse_queries": 24.0,
    }

    figures = probes.ratios(before, after, requests=200)

    assert figures["clickhouse_queries_per_request"] == pytest.approx(20 / 200)
    assert figures["recs_fallback_ratio"] == pytest.approx(50 / 200)


def test_other_scenarios_report_no_recs_figures() -> None:
    figures = probes.ratios({"db_statements": 0.0}, {"db_statements": 30.0}, requests=10)
    assert "clickhouse_queries_per_request" not in figures
