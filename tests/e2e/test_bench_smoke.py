"""`nova bench` smoke: seed a tiny graph, a ~10 s sweep against `nova up --start`, the
degraded-downstream bench over the process wiring, and the recommended feed warm and cold.

Checks the harness produces its files and fields; never asserts timings (CI machines vary).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import orjson
import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e


def _nova(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nova", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """Embedded engines: no NOVA_* of the caller's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_")}
    clean["NOVA_LOG_LEVEL"] = "WARNING"
    return clean


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> str:
    """A fresh data dir with a tiny seeded graph (scale 0.01: 100 users)."""
    path = str(tmp_path_factory.mktemp("bench") / "data")
    seeded = _nova("bench", "seed", "--data-dir", path, "--scale", "0.01", env=env)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "backfilled 2000 posts and 10000 likes" in seeded.stdout
    return path


@pytest.mark.timeout(240)
def test_bench_seed_and_run_write_a_report(tmp_path: Path, env: dict[str, str], data: str) -> None:
    # given: embedded engines in a data dir with a tiny graph

    # when: a short mixed sweep with its baseline
    out = tmp_path / "report"
    ran = _nova(
        *("bench", "run", "--start", "--data-dir", data, "--scale", "0.01", "--baseline"),
        *("--rates", "20", "--duration", "3", "--warmup", "0.5", "--users", "10"),
        *("--out", str(out)),
        env=env,
    )

    # then
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md", "latency.png"}
    result = orjson.loads((out / "report.json").read_bytes())
    for label in ("optimized", "baseline"):
        steps = result[label]["steps"]
        assert len(steps) == 1
        step = steps[0]
        assert step["requests"] > 0
        assert "error_rate" in step
        assert {"p50", "p90", "p99", "p999", "max"} <= set(step["latency_ms"])
        assert "max_pg_connections" in step
        assert "server_cpu_percent" in step
    assert len(result["comparison"]) == 1
    assert "baseline / optimized" in (out / "report.md").read_text()


@pytest.mark.timeout(240)
def test_bench_degraded_serves_the_rest_while_content_is_slow(
    tmp_path: Path, env: dict[str, str], data: str
) -> None:
    # given: the tiny graph; when: content slowed 1.5 s for the middle phase of three
    out = tmp_path / "degraded"
    ran = _nova(
        *("bench", "degraded", "--data-dir", data, "--scale", "0.01", "--duration", "3"),
        *("--rate", "10", "--victim-rate", "3", "--delay", "1.5", "--out", str(out)),
        env=env,
    )

    # then: the post field failed with a typed code only while slowed; the rest was served
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    result = orjson.loads((out / "degraded.json").read_bytes())
    phases = result["phases"]
    assert list(phases) == ["baseline", "slowed", "recovered"]
    assert phases["baseline"]["victim"]["post_field_failed"] == 0
    slowed = phases["slowed"]["victim"]
    assert slowed["answered"] > 0
    assert slowed["post_field_failed"] > 0
    assert "NONE" not in slowed["error_codes"]
    assert slowed["viewer_served"] == slowed["answered"]
    for phase in phases.values():
        assert phase["other"]["requests"] > 0
        assert phase["other"]["errors"] == 0
    assert {"other_p99_ratio", "post_field_failed_typed"} <= set(result["verdict"])


@pytest.mark.timeout(120)
def test_bench_recs_reports_warm_and_cold_phases(
    tmp_path: Path, env: dict[str, str], data: str
) -> None:
    # given: the tiny graph, backfilled into ClickHouse by the seed

    # when: fill, then 2 s warm and 2 s cold at 20 req/s
    out = tmp_path / "recs"
    ran = _nova(
        *("bench", "recs", "--start", "--data-dir", data, "--scale", "0.01"),
        *("--rate", "20", "--duration", "2", "--users", "10", "--out", str(out)),
        env=env,
    )

    # then: the fill served recommended pages; both phases carry the acceptance's figures
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == {"report.json", "report.md"}
    result = orjson.loads((out / "report.json").read_bytes())
    fill = result["fill"]
    assert fill["pages"] == 10
    assert fill["recommended"] >= 1
    assert fill["recommended"] + fill["fallback"] + fill["failed"] == fill["pages"]
    assert 0 <= fill["retried"] <= fill["pages"]
    assert list(result["phases"]) == ["warm", "cold"]
    for phase in result["phases"].values():
        assert phase["requests"] > 0
        assert {"p50", "p90", "p99"} <= set(phase["latency_ms"])
        assert {"errors", "throughput", "clickhouse_queries_per_request"} <= set(phase)
        assert "recs_fallback_ratio" in phase
    assert "evicted_keys" in result["phases"]["cold"]
    assert result["phases"]["cold"]["evicted_before_step"] >= 1
    assert "| cold |" in (out / "report.md").read_text()
