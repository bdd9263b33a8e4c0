"""The pure parts of ``nova recs report``: buckets, parsing, CTR, table and JSON."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from rich.console import Console

from nova.recs import report as rp

T = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)
QUERY = rp.ReportQuery.last("t'x", hours=6, now=T, attribution_hours=0.5)

#: :func:`rp.report_sql` rows: 2 recommended pages, 1 fallback page, clicks of every kind.
ROWS = [
    ["before_window", "", "", 0, 0, 0, 1],
    ["position", "RECOMMENDED", "1-5", 2, 3, 2, 2],
    ["position", "RECOMMENDED", "21+", 1, 1, 1, 0],
    ["reason", "RECOMMENDED", "trending", 2, 3, 2, 1],
    ["reason", "RECOMMENDED", "new_source", 1, 1, 1, 1],
    ["reason", "RECOMMENDED", "followed", 1, 2, 1, 1],
    ["source", "CHRONOLOGICAL_FALLBACK", "", 1, 3, 1, 0],
    ["source", "RECOMMENDED", "", 2, 4, 2, 2],
    ["unattributed", "", "", 0, 0, 0, 3],
]


@pytest.mark.parametrize(
    ("position", "bucket"),
    [
        (0, "1-5"),
        (4, "1-5"),
        (5, "6-10"),
        (9, "6-10"),
        (10, "11-20"),
        (19, "11-20"),
        (20, "21+"),
        (1_000, "21+"),
    ],
)
def test_a_0_based_position_falls_in_its_1_based_bucket(position: int, bucket: str) -> None:
    assert rp.position_bucket(position) == bucket


def test_a_negative_position_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        rp.position_bucket(-1)


def test_the_sql_buckets_positions_like_position_bucket() -> None:
    sql = rp.report_sql(QUERY)
    expected = (
        "multiIf(item_position < 5, '1-5', item_position < 10, '6-10', "
        "item_position < 20, '11-20', '21+')"
    )
    assert expected in sql


def test_the_sql_quotes_the_tenant_and_inlines_the_window() -> None:
    sql = rp.report_sql(QUERY)
    assert sql == rp.report_sql(QUERY)
    assert sql.count("tenant_id = 't\\'x'") == 2
    assert sql.count("FROM recommendation_events FINAL") == 2
    assert "toDateTime64('2026-01-08 06:00:00.000000', 6, 'UTC')" in sql
    assert "toDateTime64('2026-01-08 12:00:00.000000', 6, 'UTC')" in sql
    assert sql.count("toIntervalSecond(1800)") == 2


def test_last_hours_end_now() -> None:
    assert QUERY.since == T - dt.timedelta(hours=6)
    assert QUERY.until == T
    assert QUERY.attribution == dt.timedelta(minutes=30)
    assert rp.ReportQuery.last("t", hours=1, now=T).attribution == dt.timedelta(hours=24)


def test_parse_orders_sources_reasons_and_buckets_and_fills_zeros() -> None:
    report = rp.parse_report(ROWS, QUERY)

    recommended, fallback = report.sources
    assert (recommended.feed_source, recommended.pages, recommended.impressions) == (
        "RECOMMENDED",
        2,
        4,
    )
    assert (recommended.viewers, recommended.clicks, recommended.ctr) == (2, 2, 0.5)
    assert [(b.key, b.impressions, b.clicks) for b in recommended.reasons] == [
        ("friends_engaged", 0, 0),
        ("trending", 3, 1),
        ("affinity", 0, 0),
        ("followed", 2, 1),
        ("new_source", 1, 1),
    ]
    assert [(b.key, b.impressions, b.clicks) for b in recommended.positions] == [
        ("1-5", 3, 2),
        ("6-10", 0, 0),
        ("11-20", 0, 0),
        ("21+", 1, 0),
    ]
    assert (fallback.feed_source, fallback.pages, fallback.impressions, fallback.clicks) == (
        "CHRONOLOGICAL_FALLBACK",
        1,
        3,
        0,
    )
    assert fallback.ctr == 0.0
    assert (fallback.reasons, fallback.positions) == ((), ())
    assert (report.unattributed_clicks, report.clicks_before_window, report.clicks) == (3, 1, 6)


def test_parse_of_nothing_is_both_sources_at_zero() -> None:
    report = rp.parse_report([], QUERY)

    assert [(s.feed_source, s.impressions, s.clicks, s.ctr) for s in report.sources] == [
        ("RECOMMENDED", 0, 0, None),
        ("CHRONOLOGICAL_FALLBACK", 0, 0, None),
    ]
    assert len(report.sources[0].reasons) == 4
    assert len(report.sources[0].positions) == 4
    assert report.clicks == 0


def test_an_unknown_feed_source_comes_after_the_known_ones() -> None:
    report = rp.parse_report([["source", "SOMETHING_ELSE", "", 1, 1, 1, 1]], QUERY)

    assert [s.feed_source for s in report.sources] == [
        "RECOMMENDED",
        "CHRONOLOGICAL_FALLBACK",
        "SOMETHING_ELSE",
    ]
    assert report.sources[2].ctr == 1.0


@pytest.mark.parametrize(
    ("ctr", "text"), [(None, "-"), (0.0, "0.00 %"), (0.125, "12.50 %"), (2 / 3, "66.67 %")]
)
def test_ctr_is_a_percentage_or_a_dash(ctr: float | None, text: str) -> None:
    assert rp.format_ctr(ctr) == text


def test_the_table_shows_sources_then_their_reasons_and_buckets() -> None:
    console = Console(width=100, record=True, color_system=None)

    console.print(rp.format_table(rp.parse_report(ROWS, QUERY)))

    lines = [" ".join(line.strip("│┃ ").split()) for line in console.export_text().splitlines()]
    body = [line for line in lines if line and line[0].isalpha()]
    assert body == [
        "feed source ┃ pages ┃ impressions ┃ viewers ┃ clicks ┃ CTR",
        "RECOMMENDED │ 2 │ 4 │ 2 │ 2 │ 50.00 %",
        "reason friends_engaged │ │ 0 │ │ 0 │ -",
        "reason trending │ │ 3 │ │ 1 │ 33.33 %",
        "reason affinity │ │ 0 │ │ 0 │ -",
        "reason followed │ │ 2 │ │ 1 │ 50.00 %",
        "reason new_source │ │ 1 │ │ 1 │ 100.00 %",
        "position 1-5 │ │ 3 │ │ 2 │ 66.67 %",
        "position 6-10 │ │ 0 │ │ 0 │ -",
        "position 11-20 │ │ 0 │ │ 0 │ -",
        "position 21+ │ │ 1 │ │ 0 │ 0.00 %",
        "CHRONOLOGICAL_FALLBACK │ 1 │ 3 │ 1 │ 0 │ 0.00 %",
    ]


def test_the_heading_names_the_window_and_where_clicks_went() -> None:
    text = rp.describe(rp.parse_report(ROWS, QUERY))

    assert 'tenant "t\'x", 2026-01-08 06:00 to 2026-01-08 12:00 UTC (6 h)' in text
    assert "latest impression of the post at most 0.5 h before it\n" in text
    assert text.endswith(
        "clicks in the window: 6 (3 unattributed, 1 on impressions before the window)"
    )


def test_json_holds_every_figure() -> None:
    out = orjson.loads(orjson.dumps(rp.as_json(rp.parse_report(ROWS, QUERY))))

    assert {k: v for k, v in out.items() if k != "sources"} == {
        "tenant_id": "t'x",
        "since": "2026-01-08T06:00:00+00:00",
        "until": "2026-01-08T12:00:00+00:00",
        "attribution_hours": 0.5,
        "clicks": 6,
        "unattributed_clicks": 3,
        "clicks_before_window": 1,
    }
    recommended, fallback = out["sources"]
    assert {k: v for k, v in recommended.items() if k not in ("reasons", "positions")} == {
        "feed_source": "RECOMMENDED",
        "pages": 2,
        "impressions": 4,
        "viewers": 2,
        "clicks": 2,
        "ctr": 0.5,
    }
    assert recommended["reasons"][0] == {
        "key": "friends_engaged",
        "impressions": 0,
        "clicks": 0,
        "ctr": None,
    }
    assert [p["key"] for p in recommended["positions"]] == ["1-5", "6-10", "11-20", "21+"]
    assert (fallback["reasons"], fallback["positions"]) == ([], [])
