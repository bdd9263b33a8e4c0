from __future__ import annotations

import uuid

import pytest

from nova.recs.evaluate import (
    METHODS,
    EvalPlan,
    MethodScore,
    format_table,
    generate,
    precision_at_k,
    recall_at_k,
    score_method,
)

A, B, C, D, E = (uuid.UUID(int=i) for i in range(1, 6))
X, Y = uuid.UUID(int=100), uuid.UUID(int=101)


def test_precision_and_recall_hand_checked() -> None:
    ranked = [A, B, C, D]
    relevant = {B, D, E}
    assert precision_at_k(ranked, relevant, 2) == 0.5  # B of [A, B]
    assert precision_at_k(ranked, relevant, 4) == 0.5  # B, D of four
    assert precision_at_k(ranked, relevant, 10) == 0.2  # a short list still counts as k
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, set(), 4) == 0.0


def test_score_method_averages_over_users_with_held_out_likes() -> None:
    u1, u2, u3 = uuid.UUID(int=11), uuid.UUID(int=12), uuid.UUID(int=13)
    lists = {
        u1: [(A, X), (B, X), (C, Y)],  # k=2: A, B; B relevant -> p=1/2, r=1/1
        u2: [(C, Y), (D, Y)],  # k=2: C, D; none relevant -> p=0, r=0
        u3: [(E, X)],  # no held-out likes: not scored
    }
    held_out = {u1: {B}, u2: {A, E}, u3: set()}
    s = score_method("m", lists, held_out, k=2, catalogue=10)
    assert s.users == 2
    assert s.precision == pytest.approx((0.5 + 0.0) / 2)
    assert s.recall == pytest.approx((1.0 + 0.0) / 2)
    assert s.coverage == pytest.approx(4 / 10)  # A, B, C, D shown
    assert s.authors_per_list == pytest.approx((1 + 1) / 2)


def test_generate_is_deterministic_and_split_by_time() -> None:
    plan = EvalPlan(users=20, posts_per_user=3, likes_per_user=10, follows_per_user=5)
    one, two = generate(plan), generate(plan)
    assert one.likes == two.likes
    assert [p.id for p in one.posts] == [p.id for p in two.posts]
    train, test = one.split()
    assert train
    assert test
    assert max(t for t, _, _ in train) < 0 <= min(t for t, _, _ in test)
    assert all(p.created < 0 for p in one.posts)
    for t, u, i in one.likes:
        assert one.posts[i].author != u
        assert one.posts[i].created < t
    assert len({(u, i) for _, u, i in one.likes}) == len(one.likes)  # a post is liked once


def test_table_lists_every_method() -> None:
    scores = [MethodScore(m, 3, 0.1, 0.2, 0.3, 4.0) for m in METHODS]
    table = format_table(scores, k=10)
    assert "precision@10" in table
    assert all(f"| {m} |" in table for m in METHODS)
