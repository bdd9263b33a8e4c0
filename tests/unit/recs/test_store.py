from __future__ import annotations

import datetime as dt
import uuid

from nova.recs.domain import Source
from nova.recs.store import CandidateQuery, candidates_sql, parse_candidates, quote


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
