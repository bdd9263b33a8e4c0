from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from nova.recs.domain import Weights
from nova.recs.evaluate import METHODS, EvalPlan, evaluate

if TYPE_CHECKING:
    from nova.platform.analytics import ChdbClickHouse

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
