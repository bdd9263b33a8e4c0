"""`nova bench` smoke: seed a tiny graph, a ~10 s sweep against `nova up --start`.

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


@pytest.mark.timeout(240)
def test_bench_seed_and_run_write_a_report(tmp_path: Path) -> None:
    # given: embedded engines in a fresh data dir, and a tiny graph
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_")}
    env["NOVA_LOG_LEVEL"] = "WARNING"
    data = str(tmp_path / "data")
    seeded = _nova("bench", "seed", "--data-dir", data, "--scale", "0.01", env=env)
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr

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
