from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from nova.recs.domain import Weights
from nova.recs.evaluate import METHODS, EvalPlan, evaluate
from nova.recs.service import weights_from

if TYPE_CHECKING:
    from nova.platform.analytics import ChdbClickHouse
    from nova.platform.config import Settings

pytestmark = pytest.mark.integration

TINY = EvalPlan(users=24, posts_per_user=3, likes_per_user=12, follows_per_user=5, seed=3)


async def test_evaluate_on_chdb_scores_every_method(clickhouse: ChdbClickHouse) -> None:
    scores = await evaluate(clickhouse, TINY, Weights())
    assert [s.method for s in scores] == list(METHODS)
    for s in scores:
        assert s.users > 0
        assert 0.0 <= s.precision <= 1.0
        assert 0.0 <= s.recall <= 1.0
        assert 0.0 < s.coverage <= 1.0
    nova = scores[0]
    assert nova.pool_recall is not None
    assert nova.pool_recall > 0  # the real candidate SQL finds held-out posts
    # Rerunning writes the same rows (deduplicated under FINAL): the same figures.
    assert await evaluate(clickhouse, TINY, Weights()) == scores


def test_cli_runs_end_to_end() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_")}
    done = subprocess.run(  # our own CLI
        [sys.executable, "-m", "nova", "recs", "evaluate", "--users", "20", "--k", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "precision@5" in done.stdout
    for method in METHODS:
        assert f"| {method} |" in done.stdout


def _precision_at_10(table: str) -> dict[str, float]:
    """``method -> precision@10`` from the Markdown table ``nova recs evaluate`` prints."""
    out: dict[str, float] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in METHODS:
            out[cells[0]] = float(cells[2])
    return out


async def test_default_weights_beat_every_baseline_on_precision_at_10(
    clickhouse: ChdbClickHouse, settings: Settings
) -> None:
    # The configured defaults, on a seed that was not used to tune them (7 and 11 were).
    assert weights_from(settings) == Weights()
    plan = EvalPlan(users=60, seed=101)

    scores = {s.method: s for s in await evaluate(clickhouse, plan, weights_from(settings))}

    nova = scores["nova"].precision
    baselines = {m: s.precision for m, s in scores.items() if m != "nova"}
    print(f"precision@10: nova {nova:.4f}, baselines {baselines}")  # noqa: T201  # the figures
    assert len(baselines) == len(METHODS) - 1
    assert all(nova > 1.2 * p for p in baselines.values()), (nova, baselines)


@pytest.mark.slow
def test_cli_evaluation_shows_nova_ahead_on_precision_at_10() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOVA_")}
    done = subprocess.run(  # our own CLI, at the documented default size (300 users, seed 7)
        [sys.executable, "-m", "nova", "recs", "evaluate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    p10 = _precision_at_10(done.stdout)

    assert set(p10) == set(METHODS), done.stdout
    assert p10["nova"] > max(p for m, p in p10.items() if m != "nova"), done.stdout
