from __future__ import annotations

import orjson

from nova.bench.scenarios import MIX, SCENARIOS, Workload


def test_recs_scenario_requests_the_recommended_feed_signed_in() -> None:
    workload = Workload(tokens=["t1", "t2"], usernames=["bench0"], weights={"recs": 1})
    for _ in range(5):
        request = workload.next()
        assert request.scenario == "recs"
        assert request.token in {"t1", "t2"}
        assert "recommendedFeed(first: 20)" in orjson.loads(request.body)["query"]


def test_recs_is_not_in_the_default_mix() -> None:
    assert "recs" in SCENARIOS
    assert "recs" not in MIX
