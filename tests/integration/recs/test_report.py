"""``nova recs report`` on chdb: the figures of recorded impressions and clicks, exactly."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import pytest_asyncio
from pydantic import SecretStr
from typer.testing import CliRunner

from nova.analytics_sink.sink import AnalyticsSink
from nova.platform import config
from nova.platform.events import StoredEvent
from nova.recs import events as recs_events
from nova.recs import report as rp
from nova.recs.cli import recs_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.platform.analytics import ChdbClickHouse
    from nova.platform.embedded import EmbeddedClickHouse

pytestmark = pytest.mark.integration

TENANT = "report-test"
#: The end of the reported window (exclusive); the window is the 24 h before it.
T = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)
VIEWER_A, VIEWER_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)
RECOMMENDED, FALLBACK = "RECOMMENDED", "CHRONOLOGICAL_FALLBACK"


def _event(
    event_type: str, viewer: uuid.UUID, at: dt.datetime, payload: dict[str, Any], tenant: str
) -> StoredEvent:
    return StoredEvent(
        seq=0,
        event_id=uuid.uuid4(),
        tenant_id=tenant,
        event_type=event_type,
        aggregate_type=recs_events.AGGREGATE,
        aggregate_id=str(viewer),
        payload={"user_id": str(viewer), **payload},
        correlation_id=None,
        occurred_at=at,
    )


def page(
    viewer: uuid.UUID,
    at: dt.datetime,
    source: str,
    items: list[tuple[str, int, list[str]]],
    *,
    tenant: str = TENANT,
) -> StoredEvent:
    """A ``RecommendationsServed`` event: ``(post, 0-based position, reason sources)`` items."""
    return _event(
        recs_events.SERVED,
        viewer,
        at,
        {
            "source": source,
            "items": [
                {"post_id": p, "author_id": "author", "position": n, "sources": s, "score": 1.0}
                for p, n, s in items
            ],
        },
        tenant,
    )


def click(viewer: uuid.UUID, post: str, at: dt.datetime, *, tenant: str = TENANT) -> StoredEvent:
    """A ``RecommendationClicked`` event."""
    payload = {"post_id": post, "author_id": "author"}
    return _event(recs_events.CLICKED, viewer, at, payload, tenant)


def hours(n: float, *, before: dt.datetime = T) -> dt.datetime:
    return before - dt.timedelta(hours=n)


def log(end: dt.datetime = T) -> tuple[list[StoredEvent], list[StoredEvent]]:
    """Two viewers, both feed sources, positions around every bucket edge, in the 24 h before
    ``end``, plus what the report must leave out; and the events delivered a second time."""
    a1 = page(
        VIEWER_A,
        hours(10, before=end),
        RECOMMENDED,
        [
            ("a0", 0, ["friends_engaged", "trending"]),
            ("a1", 5, ["affinity"]),
            ("a2", 19, ["followed"]),
            ("a3", 20, ["trending"]),
        ],
    )
    b1 = page(
        VIEWER_B,
        hours(8, before=end),
        RECOMMENDED,
        [("a0", 1, ["trending"]), ("b1", 4, ["followed"])],
    )
    a2 = page(
        VIEWER_A, hours(6, before=end), FALLBACK, [("a1", 0, []), ("f1", 1, []), ("f2", 2, [])]
    )
    b_old = page(VIEWER_B, hours(30, before=end), RECOMMENDED, [("old", 0, ["trending"])])
    b_click = click(VIEWER_B, "b1", hours(7.5, before=end))
    first = [
        a1,
        b1,
        a2,
        b_old,  # before the window
        click(VIEWER_A, "a0", hours(9, before=end)),  # a1: friends_engaged + trending, 1-5
        click(VIEWER_A, "a2", hours(9.5, before=end)),  # a1: followed, 11-20
        click(VIEWER_A, "a1", hours(5, before=end)),  # the latest impression is a2's (fallback)
        click(VIEWER_B, "a0", hours(7, before=end)),  # b1: trending, 1-5
        b_click,  # b1: followed, 1-5 (delivered twice)
        click(VIEWER_B, "old", hours(20, before=end)),  # b_old, 10 h before: before the window
        click(VIEWER_B, "old", hours(3, before=end)),  # b_old, 27 h before: unattributed
        click(VIEWER_A, "never-shown", hours(2, before=end)),  # unattributed
        click(VIEWER_B, "a2", hours(2, before=end)),  # shown to A, not B: unattributed
        click(VIEWER_A, "a3", end),  # at the window's end (exclusive): not in the report
        page(VIEWER_A, hours(1, before=end), RECOMMENDED, [("x", 0, ["trending"])], tenant="other"),
        click(VIEWER_A, "x", hours(0.5, before=end), tenant="other"),
    ]
    return first, [a1, b_click]


async def record(ch: ChdbClickHouse, events: tuple[list[StoredEvent], list[StoredEvent]]) -> None:
    """Write the events as the analytics sink does (its row builder, one INSERT per table per
    batch), then the redelivered ones in a second batch: duplicate rows in a second part."""
    sink = AnalyticsSink(ch)
    for batch in events:
        await sink.write([sink.rows(e) for e in batch])


@pytest_asyncio.fixture(loop_scope="session")
async def unmerged(clickhouse: ChdbClickHouse) -> AsyncIterator[ChdbClickHouse]:
    """``clickhouse`` with merges of ``recommendation_events`` stopped: duplicates stay."""
    await clickhouse.command("SYSTEM STOP MERGES recommendation_events")
    try:
        yield clickhouse
    finally:
        await clickhouse.command("SYSTEM START MERGES recommendation_events")


def figures(s: rp.SourceFigures) -> tuple[int, int, int, int]:
    return s.pages, s.impressions, s.viewers, s.clicks


def split(parts: tuple[rp.Breakdown, ...]) -> dict[str, tuple[int, int]]:
    return {b.key: (b.impressions, b.clicks) for b in parts}


async def test_report_counts_deduplicated_impressions_and_attributed_clicks(
    unmerged: ChdbClickHouse,
) -> None:
    # given: 22 rows, then the 4 rows of a page and a click's row a second time
    await record(unmerged, log())
    assert (await unmerged.query("SELECT count() FROM recommendation_events"))[0][0] == 27

    # when
    report = await rp.load_report(unmerged, rp.ReportQuery.last(TENANT, hours=24, now=T))

    # then
    recommended, fallback = report.sources
    assert recommended.feed_source == RECOMMENDED
    assert figures(recommended) == (2, 6, 2, 4)
    assert recommended.ctr == pytest.approx(4 / 6)
    assert split(recommended.reasons) == {
        "friends_engaged": (1, 1),
        "trending": (3, 2),
        "affinity": (1, 0),
        "followed": (2, 2),
    }
    assert [b.key for b in recommended.reasons] == [
        "friends_engaged",
        "trending",
        "affinity",
        "followed",
    ]
    assert split(recommended.positions) == {
        "1-5": (3, 3),
        "6-10": (1, 0),
        "11-20": (1, 1),
        "21+": (1, 0),
    }
    assert fallback.feed_source == FALLBACK
    assert figures(fallback) == (1, 3, 1, 1)
    assert fallback.ctr == pytest.approx(1 / 3)
    assert fallback.reasons == ()
    assert fallback.positions == ()
    assert len(report.sources) == 2
    assert report.unattributed_clicks == 3
    assert report.clicks_before_window == 1
    assert report.clicks == 9


@pytest.mark.parametrize(
    ("attribution", "recommended_clicks", "fallback_clicks", "unattributed"),
    [
        # exactly 1 h after the impression is still inside (both ends inclusive)
        (dt.timedelta(hours=1), 4, 1, 4),
        # only the clicks 30 min after their impression (a2 on A's page, b1 on B's)
        (dt.timedelta(minutes=45), 2, 0, 7),
    ],
)
async def test_a_click_later_than_the_attribution_window_is_unattributed(
    unmerged: ChdbClickHouse,
    attribution: dt.timedelta,
    recommended_clicks: int,
    fallback_clicks: int,
    unattributed: int,
) -> None:
    # given
    await record(unmerged, log())
    query = rp.ReportQuery(TENANT, since=hours(24), until=T, attribution=attribution)

    # when
    report = await rp.load_report(unmerged, query)

    # then: impressions do not depend on the attribution window, clicks do
    recommended, fallback = report.sources
    assert figures(recommended) == (2, 6, 2, recommended_clicks)
    assert figures(fallback) == (1, 3, 1, fallback_clicks)
    assert report.unattributed_clicks == unattributed
    assert report.clicks_before_window == 0
    assert report.clicks == 9


async def test_a_tenant_with_nothing_recorded_reports_zeros(clickhouse: ChdbClickHouse) -> None:
    # given
    await record(clickhouse, log())

    # when
    report = await rp.load_report(clickhouse, rp.ReportQuery.last("nobody", hours=24, now=T))

    # then
    assert [figures(s) for s in report.sources] == [(0, 0, 0, 0), (0, 0, 0, 0)]
    assert [b.ctr for b in report.sources[0].positions] == [None, None, None, None]
    assert report.clicks == 0


async def test_cli_prints_the_report_as_json(
    clickhouse: ChdbClickHouse,
    chdb_engine: EmbeddedClickHouse,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the log ending 10 min after now; the command reports the 24 h before the wall
    # clock, which hold the same events as the 24 h before the log's end (no event is within
    # 10 min of an edge but the click at the end, left out either way)
    await record(clickhouse, log(end=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)))
    settings = config.Settings(
        environment=config.Environment.TEST,
        data_dir=tmp_path,
        clickhouse_url=SecretStr(chdb_engine.url),
        default_tenant=TENANT,
    )
    monkeypatch.setattr(config, "load_settings", lambda: settings)

    # when: in a thread, since the command runs its own event loop
    done = await asyncio.to_thread(CliRunner().invoke, recs_app, ["report", "--json"])

    # then
    assert done.exit_code == 0, done.output
    out = orjson.loads(done.output)
    assert out["tenant_id"] == TENANT
    assert out["attribution_hours"] == 24
    assert [
        (s["feed_source"], s["pages"], s["impressions"], s["viewers"], s["clicks"])
        for s in out["sources"]
    ] == [(RECOMMENDED, 2, 6, 2, 4), (FALLBACK, 1, 3, 1, 1)]
    assert out["sources"][0]["positions"][0] == {
        "key": "1-5",
        "impressions": 3,
        "clicks": 3,
        "ctr": 1.0,
    }
    assert (out["clicks"], out["unattributed_clicks"], out["clicks_before_window"]) == (9, 3, 1)
