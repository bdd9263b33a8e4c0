"""Online evaluation from recorded impressions and clicks (``nova recs report``).

:func:`report_sql` is one ClickHouse query over the analytics sink's ``recommendation_events``
(one row per item of a ``RecommendationsServed`` page, one per ``RecommendationClicked``);
:func:`parse_report` turns its rows into a :class:`Report`; :func:`format_table` and
:func:`as_json` render one. Only :func:`load_report` does I/O.

Example:
    >>> query = ReportQuery.last("default", hours=24, now=dt.datetime.now(dt.UTC))
    >>> report = await load_report(clickhouse, query)  # doctest: +SKIP
    >>> report.sources[0].ctr                           # doctest: +SKIP
    0.0412

**Window.** The report covers ``[since, until)``: an impression (a shown item) counts when it
was served in the window, a click when it happened in the window.

**Attribution.** A click of viewer *v* on post *p* at time *t* is attributed to the latest
impression of *p* to *v* served at or before *t* and no earlier than ``t - attribution``
(both ends inclusive; impressions served at the same instant are ordered by their page's
``event_id``). It counts under that impression's feed source, under each of its reason
sources and under its position bucket. It is

* *attributed* when that impression is in the window (the figures per source include it);
* *before the window* when that impression was served before ``since``: it is left out of
  the figures, whose CTR divides clicks by the impressions they came from (a report whose
  window holds both the impression and the click counts it);
* *unattributed* when there is no such impression (the post was never shown to the viewer,
  or only longer than ``attribution`` before the click).

Several clicks attributed to one impression each count; CTR is clicks / impressions. The
impressions near ``until`` have had less time to be clicked, so the CTR of a window ending
now is a little low until ``attribution`` has passed.

**Deduplication.** ``recommendation_events`` is a ``ReplacingMergeTree`` ordered by
``(tenant_id, user_id, post_id, event_type, event_id)``: the rows of a redelivered event have
the keys of the first delivery's, so reading with ``FINAL`` counts each once before merges.

**Pages** are distinct ``RecommendationsServed`` events with at least one item in the window
(an empty page writes no row). Positions are 0-based in the rows and shown 1-based in the
buckets (``1-5`` is positions 0-4). Reasons and buckets are reported for ``RECOMMENDED``
only: fallback items carry no reason and their position is on the page, not in a ranked list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from rich.table import Table

from nova.recs.domain import RecsSource, Source
from nova.recs.store import quote

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.platform.analytics import ClickHouse

__all__ = [
    "DEFAULT_ATTRIBUTION",
    "POSITION_BUCKETS",
    "Breakdown",
    "Report",
    "ReportQuery",
    "SourceFigures",
    "as_json",
    "describe",
    "format_ctr",
    "format_table",
    "load_report",
    "parse_report",
    "position_bucket",
    "report_sql",
]

#: How long after an impression a click is still attributed to it.
DEFAULT_ATTRIBUTION = dt.timedelta(hours=24)

#: ``(first 0-based position past the bucket, label)``, in order; the last bucket is open.
POSITION_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (5, "1-5"),
    (10, "6-10"),
    (20, "11-20"),
    (None, "21+"),
)


def position_bucket(position: int) -> str:
    """The label of the bucket of a 0-based ``position`` (``0`` → ``"1-5"``, ``20`` → ``"21+"``).

    Raises:
        ValueError: ``position`` is negative.
    """
    if position < 0:
        raise ValueError(f"a position is 0 or more, got {position}")
    return next(label for end, label in POSITION_BUCKETS if end is None or position < end)


def _bucket_sql(column: str) -> str:
    """:func:`position_bucket` in ClickHouse, over ``column``."""
    arms = ", ".join(f"{column} < {end}, '{label}'" for end, label in POSITION_BUCKETS if end)
    return f"multiIf({arms}, '{POSITION_BUCKETS[-1][1]}')"


@dataclasses.dataclass(frozen=True, slots=True)
class ReportQuery:
    """Which events a report reads.

    Attributes:
        since: Start of the window (inclusive).
        until: End of the window (exclusive).
        attribution: Longest time from an impression to a click attributed to it (whole
            seconds: the SQL rounds it).
    """

    tenant_id: str
    since: dt.datetime
    until: dt.datetime
    attribution: dt.timedelta = DEFAULT_ATTRIBUTION

    @classmethod
    def last(
        cls,
        tenant_id: str,
        *,
        hours: float,
        now: dt.datetime,
        attribution_hours: float = DEFAULT_ATTRIBUTION.total_seconds() / 3600,
    ) -> ReportQuery:
        """The ``hours`` before ``now``, attributing clicks within ``attribution_hours``."""
        return cls(
            tenant_id=tenant_id,
            since=now - dt.timedelta(hours=hours),
            until=now,
            attribution=dt.timedelta(hours=attribution_hours),
        )


def _ts(value: dt.datetime) -> str:
    return f"toDateTime64('{value.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S.%f}', 6, 'UTC')"


def report_sql(q: ReportQuery) -> str:
    """One query: ``(kind, feed_source, key, pages, impressions, viewers, clicks)`` rows.

    ``kind`` is ``source`` (per feed source; ``key`` empty), ``reason`` (``key``: a reason
    source) or ``position`` (``key``: a :data:`POSITION_BUCKETS` label), or ``unattributed`` /
    ``before_window`` (only ``clicks`` set). See the module docstring for the rules.
    """
    t = quote(q.tenant_id)
    since, until = _ts(q.since), _ts(q.until)
    window = f"toIntervalSecond({round(q.attribution.total_seconds())})"
    recommended = quote(RecsSource.RECOMMENDED.value)
    # The CTEs are inlined where referenced: ``served`` is read twice, each time a range of the
    # sort key's prefix (tenant_id). Clicks are the small side of the join, so on the right.
    return f"""
WITH
served AS (
    SELECT event_id, user_id, post_id, toString(feed_source) AS page_source, reason_sources,
           position, occurred_at
    FROM recommendation_events FINAL
    WHERE tenant_id = {t} AND event_type = 'RecommendationsServed'
      AND occurred_at >= {since} - {window} AND occurred_at < {until}
),
clicked AS (
    SELECT event_id, user_id, post_id, occurred_at
    FROM recommendation_events FINAL
    WHERE tenant_id = {t} AND event_type = 'RecommendationClicked'
      AND occurred_at >= {since} AND occurred_at < {until}
),
attributed AS (
    SELECT c.event_id AS click_id, s.event_id AS page_id, s.post_id AS item_id,
           s.occurred_at AS shown_at
    FROM served AS s
    INNER JOIN clicked AS c ON c.user_id = s.user_id AND c.post_id = s.post_id
    WHERE s.occurred_at <= c.occurred_at AND s.occurred_at >= c.occurred_at - {window}
    ORDER BY shown_at DESC, page_id DESC
    LIMIT 1 BY click_id
),
shown AS (
    SELECT s.event_id AS page_id, s.user_id AS viewer_id, s.page_source AS page_source,
           s.reason_sources AS reasons, s.position AS item_position, ifNull(k.n, 0) AS n_clicks
    FROM served AS s
    LEFT JOIN (
        SELECT page_id, item_id, count() AS n FROM attributed GROUP BY page_id, item_id
    ) AS k ON k.page_id = s.event_id AND k.item_id = s.post_id
    WHERE s.occurred_at >= {since}
)
SELECT kind, feed_source, key, pages, impressions, viewers, clicks FROM (
    SELECT 'source' AS kind, page_source AS feed_source, '' AS key,
           uniqExact(page_id) AS pages, count() AS impressions,
           uniqExact(viewer_id) AS viewers, sum(n_clicks) AS clicks
    FROM shown GROUP BY page_source
    UNION ALL
    SELECT 'reason', page_source, toString(reason), uniqExact(page_id), count(),
           uniqExact(viewer_id), sum(n_clicks)
    FROM shown ARRAY JOIN reasons AS reason
    WHERE page_source = {recommended} GROUP BY page_source, reason
    UNION ALL
    SELECT 'position', page_source, {_bucket_sql("item_position")} AS bucket,
           uniqExact(page_id), count(), uniqExact(viewer_id), sum(n_clicks)
    FROM shown WHERE page_source = {recommended} GROUP BY page_source, bucket
    UNION ALL
    SELECT 'unattributed', '', '', toUInt64(0), toUInt64(0), toUInt64(0), count()
    FROM clicked WHERE event_id NOT IN (SELECT click_id FROM attributed)
    UNION ALL
    SELECT 'before_window', '', '', toUInt64(0), toUInt64(0), toUInt64(0), count()
    FROM attributed WHERE shown_at < {since}
)
ORDER BY kind, feed_source, key
"""  # noqa: S608  # literals are quote()d strings, ints and formatted timestamps


def _ctr(clicks: int, impressions: int) -> float | None:
    return clicks / impressions if impressions else None


@dataclasses.dataclass(frozen=True, slots=True)
class Breakdown:
    """Impressions and attributed clicks of one reason source or position bucket."""

    key: str
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float | None:
        """Clicks / impressions; ``None`` without impressions."""
        return _ctr(self.clicks, self.impressions)


@dataclasses.dataclass(frozen=True, slots=True)
class SourceFigures:
    """What one feed source served and the clicks attributed to it.

    Attributes:
        pages: Pages served with at least one item.
        impressions: Items shown.
        viewers: Distinct viewers shown an item.
        clicks: Clicks attributed to these impressions.
        reasons: Per reason source (``RECOMMENDED`` only; an item counts under each of its).
        positions: Per :data:`POSITION_BUCKETS` label (``RECOMMENDED`` only).
    """

    feed_source: str
    pages: int
    impressions: int
    viewers: int
    clicks: int
    reasons: tuple[Breakdown, ...] = ()
    positions: tuple[Breakdown, ...] = ()

    @property
    def ctr(self) -> float | None:
        """Clicks / impressions; ``None`` without impressions."""
        return _ctr(self.clicks, self.impressions)


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """The figures of one :class:`ReportQuery`.

    Attributes:
        sources: ``RECOMMENDED``, then ``CHRONOLOGICAL_FALLBACK`` (both always), then any
            other feed source found in the rows.
        unattributed_clicks: Clicks in the window with no impression to attribute them to.
        clicks_before_window: Clicks in the window attributed to impressions before it.
    """

    query: ReportQuery
    sources: tuple[SourceFigures, ...]
    unattributed_clicks: int
    clicks_before_window: int

    @property
    def clicks(self) -> int:
        """Every click recorded in the window."""
        attributed = sum(s.clicks for s in self.sources)
        return attributed + self.unattributed_clicks + self.clicks_before_window


def _ordered(found: Sequence[str], known: Sequence[str]) -> list[str]:
    return [*known, *sorted(set(found) - set(known))]


def parse_report(rows: Sequence[Sequence[Any]], query: ReportQuery) -> Report:
    """A :class:`Report` from :func:`report_sql` rows; missing groups are zeros."""
    totals: dict[str, tuple[int, int, int, int]] = {}
    parts: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    clicks = {"unattributed": 0, "before_window": 0}
    for kind, feed_source, key, pages, impressions, viewers, n in rows:
        if kind == "source":
            totals[feed_source] = (int(pages), int(impressions), int(viewers), int(n))
        elif kind in clicks:
            clicks[kind] = int(n)
        else:
            parts.setdefault((kind, feed_source), {})[key] = (int(impressions), int(n))

    def breakdown(kind: str, feed_source: str, known: Sequence[str]) -> tuple[Breakdown, ...]:
        found = parts.get((kind, feed_source), {})
        return tuple(
            Breakdown(key, *found.get(key, (0, 0))) for key in _ordered(list(found), known)
        )

    sources = []
    for feed_source in _ordered(list(totals), [s.value for s in RecsSource]):
        pages, impressions, viewers, n = totals.get(feed_source, (0, 0, 0, 0))
        ranked = feed_source == RecsSource.RECOMMENDED
        sources.append(
            SourceFigures(
                feed_source=feed_source,
                pages=pages,
                impressions=impressions,
                viewers=viewers,
                clicks=n,
                reasons=breakdown("reason", feed_source, [s.value for s in Source])
                if ranked
                else (),
                positions=breakdown("position", feed_source, [b for _, b in POSITION_BUCKETS])
                if ranked
                else (),
            )
        )
    return Report(
        query=query,
        sources=tuple(sources),
        unattributed_clicks=clicks["unattributed"],
        clicks_before_window=clicks["before_window"],
    )


async def load_report(clickhouse: ClickHouse, query: ReportQuery) -> Report:
    """Run :func:`report_sql` and parse it (one query).

    Raises:
        Exception: whatever the ClickHouse client raises (e.g. no ``recommendation_events``).
    """
    return parse_report(await clickhouse.query(report_sql(query)), query)


def format_ctr(ctr: float | None) -> str:
    """A CTR as a percentage with two decimals (``0.125`` → ``"12.50 %"``), ``-`` for none."""
    return "-" if ctr is None else f"{ctr * 100:.2f} %"


def _hours(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


def describe(report: Report) -> str:
    """The report's heading: tenant, window, attribution and where the clicks went."""
    q = report.query
    since, until = q.since.astimezone(dt.UTC), q.until.astimezone(dt.UTC)
    return (
        f"recommendations of tenant {q.tenant_id!r}, {since:%Y-%m-%d %H:%M} to "
        f"{until:%Y-%m-%d %H:%M} UTC ({_hours(q.until - q.since)})\n"
        "a click counts for the viewer's latest impression of the post at most "
        f"{_hours(q.attribution)} before it\n"
        f"clicks in the window: {report.clicks} ({report.unattributed_clicks} unattributed, "
        f"{report.clicks_before_window} on impressions before the window)"
    )


def format_table(report: Report) -> Table:
    """A rich table: one row per feed source, then its reason sources and position buckets."""
    table = Table("feed source", "pages", "impressions", "viewers", "clicks", "CTR")
    for column in table.columns[1:]:
        column.justify = "right"
    for s in report.sources:
        table.add_row(
            s.feed_source,
            str(s.pages),
            str(s.impressions),
            str(s.viewers),
            str(s.clicks),
            format_ctr(s.ctr),
        )
        for label, parts in (("reason", s.reasons), ("position", s.positions)):
            for b in parts:
                table.add_row(
                    f"  {label} {b.key}",
                    "",
                    str(b.impressions),
                    "",
                    str(b.clicks),
                    format_ctr(b.ctr),
                )
    return table


def _breakdown_json(parts: Sequence[Breakdown]) -> list[dict[str, Any]]:
    return [
        {"key": b.key, "impressions": b.impressions, "clicks": b.clicks, "ctr": b.ctr}
        for b in parts
    ]


def as_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready values (timestamps ISO 8601, CTR a fraction or ``None``)."""
    q = report.query
    return {
        "tenant_id": q.tenant_id,
        "since": q.since.astimezone(dt.UTC).isoformat(),
        "until": q.until.astimezone(dt.UTC).isoformat(),
        "attribution_hours": q.attribution.total_seconds() / 3600,
        "clicks": report.clicks,
        "unattributed_clicks": report.unattributed_clicks,
        "clicks_before_window": report.clicks_before_window,
        "sources": [
            {
                "feed_source": s.feed_source,
                "pages": s.pages,
                "impressions": s.impressions,
                "viewers": s.viewers,
                "clicks": s.clicks,
                "ctr": s.ctr,
                "reasons": _breakdown_json(s.reasons),
                "positions": _breakdown_json(s.positions),
            }
            for s in report.sources
        ],
    }
