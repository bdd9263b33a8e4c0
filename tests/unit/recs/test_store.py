from __future__ import annotations

import datetime as dt
import uuid

from nova.recs.domain import Source
from nova.recs.store import MAX_SEEN, CandidateQuery, candidates_sql, parse_candidates, quote


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote("a'b\\c") == "'a\\'b\\\\c'"


def test_sql_is_deterministic_and_handles_no_followees() -> None:
    q = CandidateQuery(
        tenant_id="t'x",
        viewer_id=uuid.UUID(int=1),
        followee_ids=(),
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    sql = candidates_sql(q)
    assert sql == candidates_sql(q)
    assert "IN ('-')" in sql
    assert "'t\\'x'" in sql


def test_parse_skips_bad_ids() -> None:
    p, a = uuid.UUID(int=5), uuid.UUID(int=6)
    rows = [[str(p), str(a), 12.5, "trending", 3, [1, 2]], ["", str(a), 1, "followed", 0, []]]
    (c,) = parse_candidates(rows)
    assert c.post_id == p
    assert c.sources == frozenset({Source.TRENDING})
    assert c.engagement_ages == (1.0, 2.0)
    assert c.affinity == 3


def _query(*, seen_seconds: int) -> CandidateQuery:
    return CandidateQuery(
        tenant_id="t'x",
        viewer_id=uuid.UUID(int=1),
        followee_ids=(uuid.UUID(int=2),),
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        per_source=7,
        seen_seconds=seen_seconds,
    )


def test_every_source_leaves_out_the_viewers_seen_posts_before_its_cap() -> None:
    sql = candidates_sql(_query(seen_seconds=3 * 3600))
    sources = sql.split("UNION ALL")
    assert len(sources) == 4
    for source in sources:
        seen = source[source.index("post_id NOT IN (") : source.index(f"LIMIT {MAX_SEEN})")]
        assert "SELECT post_id FROM recommendation_events" in seen
        assert (
            "WHERE tenant_id = 't\\'x' AND user_id = '00000000-0000-0000-0000-000000000001'" in seen
        )
        assert "event_type IN ('RecommendationsServed', 'RecommendationClicked')" in seen
        assert "occurred_at >= now_ts - toIntervalSecond(10800)" in seen
        # Before the source's cap: a seen post frees its slot for an unseen one.
        assert source.index(f"LIMIT {MAX_SEEN})") < source.index("LIMIT 7)")
    assert sql.count("FROM recommendation_events") == 4
    assert sql == candidates_sql(_query(seen_seconds=3 * 3600))  # same text: coalesced


def test_a_zero_seen_lookback_does_not_read_impressions() -> None:
    assert "recommendation_events" not in candidates_sql(_query(seen_seconds=0))
    assert "recommendation_events" not in candidates_sql(
        CandidateQuery(
            tenant_id="t",
            viewer_id=uuid.UUID(int=1),
            followee_ids=(),
            now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        )
    )
