import pytest

from nova.bench import probes
from nova.bench.graph import GraphPlan, bench_threshold, generate
from nova.bench.stats import Latencies, find_knee, intended_times


def test_intended_times_are_evenly_spaced_and_independent_of_responses() -> None:
    times = intended_times(rate=200.0, duration=2.0)

    assert len(times) == 400
    assert times[0] == 0.0
    assert times[1] == pytest.approx(0.005)
    assert times[-1] == pytest.approx(1.995)


def test_intended_times_reject_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate must be"):
        intended_times(rate=0.0, duration=1.0)


def test_merged_histograms_hold_every_value() -> None:
    fast, slow = Latencies(), Latencies()
    for _ in range(99):
        fast.record_seconds(0.001)
    slow.record_seconds(0.5)

    summary = Latencies.merged([fast, slow]).summary()

    assert summary.count == 100
    assert summary.p50 == pytest.approx(1.0, rel=0.01)
    assert summary.max == pytest.approx(500.0, rel=0.01)
    assert summary.p999 == pytest.approx(500.0, rel=0.01)


def test_empty_histogram_summarizes_to_zeros() -> None:
    summary = Latencies().summary()

    assert summary.count == 0
    assert summary.p99 == 0.0


def test_knee_is_the_first_step_over_the_p99_bound() -> None:
    steps = [(100.0, 5.0, 0.0), (200.0, 30.0, 0.0), (300.0, 500.0, 0.0)]

    knee = find_knee(steps, p99_bound_ms=25.0, max_error_rate=0.001)

    assert knee.index == 1
    assert knee.rate == 200.0
    assert knee.last_good_rate == 100.0
    assert "p99" in knee.reason


def test_knee_counts_errors_over_the_bound() -> None:
    knee = find_knee([(100.0, 1.0, 0.002)], p99_bound_ms=25.0, max_error_rate=0.001)

    assert knee.index == 0
    assert "errors" in knee.reason


def test_no_knee_when_every_step_passes() -> None:
    knee = find_knee([(100.0, 1.0, 0.0), (200.0, 2.0, 0.0)], p99_bound_ms=25, max_error_rate=0.001)

    assert knee.index is None
    assert knee.last_good_rate == 200.0


def test_ratios_from_two_scrapes() -> None:
    before = {"db_statements": 100.0, "cache_hits:responses": 0.0, "feed_reads:timeline": 5.0}
    after = {
        "db_statements": 400.0,
        "cache_hits:responses": 30.0,
        "cache_misses:responses": 10.0,
        "feed_reads:timeline": 95.0,
        "feed_reads:rebuilt": 10.0,
    }

    figures = probes.ratios(before, after, requests=100)

    assert figures["sql_statements_per_request"] == 3.0
    assert figures["response_cache_hit_ratio"] == 0.75
    assert figures["timeline_hit_ratio"] == 0.9


def test_graph_is_deterministic_with_unique_pairs_and_popular_authors() -> None:
    plan = GraphPlan.scaled(0.05, seed=3)

    first = generate(plan, start_ms=1_700_000_000_000)
    again = generate(plan, start_ms=1_700_000_000_000)

    n = plan.users
    follows = set(zip(first.follower.tolist(), first.followee.tolist(), strict=True))
    likes = set(zip(first.like_post.tolist(), first.like_user.tolist(), strict=True))
    followers = [0] * n
    for _, followee in follows:
        followers[followee] += 1
    assert first.user_ids == again.user_ids
    assert len(follows) == len(first.follower) == plan.follows
    assert all(a != b for a, b in follows)
    assert len(likes) == len(first.like_post) == plan.likes
    assert len(first.post_ids) == plan.posts
    assert sum(c > bench_threshold(n) for c in followers) >= 3
