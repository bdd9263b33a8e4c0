"""``nova bench recs``: the list-key pattern, the loopback guard, fill parsing and the report."""

from __future__ import annotations

import fnmatch
import uuid
from typing import Any, cast

import orjson
import pytest

from nova.bench import probes, report
from nova.bench.recs import check_loopback, list_key_pattern, page_source
from nova.platform.config import load_settings
from nova.recs.service import RecsService


def _service(prefix: str) -> RecsService:
    unused = cast("Any", None)
    return RecsService(
        clickhouse=unused,
        redis=unused,
        db=unused,
        users=unused,
        content=unused,
        feed=unused,
        settings=load_settings(redis_key_prefix=prefix),
    )


def test_pattern_matches_the_lists_of_the_tenant_and_nothing_else() -> None:
    # given: the keys a fully built service stores lists under
    service = _service("bench7:")
    user = uuid.uuid4()

    # when
    pattern = list_key_pattern(load_settings(redis_key_prefix="bench7:"), "default")

    # then
    assert fnmatch.fnmatchcase(service.key("default", user), pattern)
    assert not fnmatch.fnmatchcase(service.key("other", user), pattern)
    assert not fnmatch.fnmatchcase(_service("nova:").key("default", user), pattern)
    assert not fnmatch.fnmatchcase("bench7:timeline:default:1", pattern)


def test_pattern_escapes_glob_characters_of_the_tenant() -> None:
    pattern = list_key_pattern(load_settings(redis_key_prefix="nova:"), "a*b?[c]")

    assert pattern == r"nova:recs:a\*b\?\[c\]:*"


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "redis://localhost/1", "redis://[::1]:6380", "unix:///r.s"]
)
def test_loopback_redis_is_accepted(url: str) -> None:
    assert check_loopback(url) == url


def test_a_remote_redis_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback Redis only"):
        check_loopback("redis://cache.internal:6379/0")


def test_page_source_reads_the_feed_source_or_none_on_failure() -> None:
    ok = orjson.dumps({"data": {"recommendedFeed": {"edges": [], "source": "RECOMMENDED"}}})
    shed = orjson.dumps({"errors": [{"message": "busy", "extensions": {"code": "UNAVAILABLE"}}]})

    assert page_source(200, ok) == "RECOMMENDED"
    assert page_source(503, ok) is None
    assert page_source(200, shed) is None
    assert page_source(200, b"not json") is None


def test_recs_counters_include_pages_per_source() -> None:
    figures = probes.ratios(
        {"recs_events:RECOMMENDED": 5.0},
        {"recs_events:RECOMMENDED": 25.0, "recs_events:CHRONOLOGICAL_FALLBACK": 10.0},
        requests=30,
    )

    assert figures["recs_pages_recommended"] == 20.0
    assert figures["recs_pages_fallback"] == 10.0
    assert figures["clickhouse_queries_per_request"] == 0.0


def _phase(**extra: Any) -> dict[str, Any]:
    return {
        "rate": 200.0,
        "throughput": 198.4,
        "errors": 2259,
        "error_rate": 0.753,
        "error_samples": ["recs 503: b'{\"errors\":[{}]}'"],
        "latency_ms": {"p50": 309.3, "p90": 900.0, "p99": 1420.3, "p999": 2000.0, "max": 2100.0},
        "server_cpu_percent": 96.1,
        "clickhouse_queries_per_request": 0.0,
        "recs_fallback_ratio": 0.46,
        "recs_pages_recommended": 400.0,
        "recs_pages_fallback": 341.0,
        **extra,
    }


def test_recs_report_has_the_fill_and_a_row_per_phase() -> None:
    # given
    result = {
        "command": "recs",
        "invocation": "nova bench recs --start --rate 200",
        "load_average": [1.2, 1.0, 0.9],
        "plan": {"users": 200, "step_seconds": 15.0, "evict_interval": 0.1},
        "key_pattern": "nova:recs:default:*",
        "fill": {
            "pages": 200,
            "recommended": 198,
            "fallback": 2,
            "failed": 0,
            "first_pass_recommended": 182,
            "retried": 18,
            "seconds": 41.5,
            "concurrency": 4,
        },
        "phases": {"warm": _phase(), "cold": _phase(evicted_before_step=200, evicted_keys=1234)},
    }

    # when
    text = report.markdown(result)

    # then
    assert "`nova bench recs --start --rate 200`" in text
    assert "Load average at the start: 1.20, 1.00, 0.90" in text
    assert "198 RECOMMENDED, 2 CHRONOLOGICAL_FALLBACK, 0 failed" in text
    assert "182 RECOMMENDED at the first try, 18 asked again alone" in text
    rows = [line for line in text.splitlines() if line.startswith(("| warm ", "| cold "))]
    assert len(rows) == 2
    assert "| 309.3 | 900.0 | 1420.3 | 75.3% (2,259) | 0.000 | 0.46 | 400 / 341 |" in rows[0]
    assert rows[0].endswith("| - |")
    assert rows[1].endswith("| 200 / 1,234 |")
    assert "First error (warm): `recs 503:" in text


def test_recs_report_says_when_the_cold_phase_was_skipped() -> None:
    result = {
        "command": "recs",
        "invocation": "nova bench recs --url http://127.0.0.1:8000",
        "load_average": [0.5, 0.5, 0.5],
        "plan": {"users": 10, "step_seconds": 2.0, "evict_interval": 0.1},
        "key_pattern": "nova:recs:default:*",
        "fill": {
            "pages": 10,
            "recommended": 10,
            "fallback": 0,
            "failed": 0,
            "first_pass_recommended": 10,
            "retried": 0,
            "seconds": 1.0,
            "concurrency": 4,
        },
        "phases": {"warm": _phase(error_samples=[])},
        "cold_skipped": "no Redis URL (give --redis-url with --url)",
    }

    text = report.markdown(result)

    assert "Cold phase skipped: no Redis URL" in text
    assert "First error" not in text
