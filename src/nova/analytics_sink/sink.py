"""Writes engagement events and feed candidates into ClickHouse, deduplicated by ``event_id``.

Tables (``ReplacingMergeTree``: a row written twice, e.g. after a crash between the insert and
the consumer's commit, collapses at merge time and under ``FINAL``):

* ``engagement_events`` ``ORDER BY (tenant_id, post_id, event_id)``: per-post engagement
  scans (trending, affinity) read a contiguous range; ``event_id`` ends the key so duplicates
  share one key.
* ``feed_candidates`` ``ORDER BY (user_id, created_at, post_id)``, versioned by the post's
  aggregate version: a deletion (``deleted = 1``) replaces the published row and a late
  publish (lower version) cannot bring it back.
* ``recommendation_events`` ``ORDER BY (tenant_id, user_id, post_id, event_type, event_id)``:
  recommendation impressions (one row per item of a ``RecommendationsServed`` page) and
  clicks, for evaluating the ranking (docs/recommendations.md).

The consumer's exact store already drops redelivered events, so ``count() = uniqExact(event_id)``
holds even before merges except across that crash window.

**One INSERT per table per batch.** The sink is a
:class:`~nova.platform.events.BatchHandler`: :meth:`AnalyticsSink.rows` builds each event's
rows (pure), and :meth:`AnalyticsSink.write` inserts a fetched batch's rows with one
``INSERT`` per table, in the transaction that claims the batch's events (a chdb insert costs
~5.6 ms of CPU, more than the request that caused the event). An event whose rows cannot be
built (e.g. an unparsable ``created_at``) is rejected before anything is written and the rest
of the batch lands without it.

**ClickHouse failing.** When an insert fails the sink probes its three tables. If ClickHouse does
not answer, the failure is the dependency's: the sink raises ``UnavailableError`` and the
consumer runner hands the whole batch back uncounted and backs off, so an outage of any length
acknowledges and dead-letters nothing. If ClickHouse answers, some event's rows are at fault:
the runner rolls the batch back and inserts it event by event, so that error counts as an
attempt of that event alone, which reaches the dead-letter stream after
``NOVA_EVENTS_MAX_ATTEMPTS``. A full disk still answers reads, so it is treated as the events'
fault (dead letters, replayable with ``nova events dlq replay``).

Both tables carry ``correlation_id`` and ``trace_id`` (32 hex) of the request that caused the
event (empty when it carried none), so an analytics row leads to the request's logs and trace.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from nova.platform import errors
from nova.platform.events import BatchHandler, Consumer
from nova.platform.observability import tracing

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.platform.analytics import ClickHouse
    from nova.platform.events import Applying, StoredEvent

__all__ = ["ENGAGEMENT", "RECOMMENDATIONS", "SCHEMA", "TABLES", "AnalyticsSink", "Rows"]

#: Reads the sink's tables and nothing else: fails exactly when one of them cannot be reached.
_PROBE = (
    "SELECT (SELECT count() FROM engagement_events WHERE 0)"
    " + (SELECT count() FROM feed_candidates WHERE 0)"
    " + (SELECT count() FROM recommendation_events WHERE 0)"
)

#: Event types recorded as engagement.
ENGAGEMENT = frozenset(
    {
        "PostPublished",
        "PostDeleted",
        "Liked",
        "Unliked",
        "Commented",
        "CommentDeleted",
    }
)

#: Event types recorded in ``recommendation_events`` (nova.recs.events).
RECOMMENDATIONS = frozenset({"RecommendationsServed", "RecommendationClicked"})

#: The sink's tables, in the order a batch inserts into them.
TABLES = ("engagement_events", "feed_candidates", "recommendation_events")

#: What one event adds: table → rows (column → value).
Rows = dict[str, list[dict[str, Any]]]

#: One row per item shown (``RecommendationsServed``) and per click. ``ORDER BY`` keeps a
#: viewer's impressions and clicks of one post together (CTR and "already seen" read a viewer's
#: range); ``event_id`` ends the key, so a redelivered event's rows collapse like the others.
RECOMMENDATION_EVENTS_DDL = """
    CREATE TABLE IF NOT EXISTS recommendation_events (
        event_id        UUID,
        tenant_id       String,
        event_type      LowCardinality(String),
        user_id         String,
        post_id         String,
        author_id       String,
        position        UInt32,
        feed_source     LowCardinality(String),
        reason_sources  Array(LowCardinality(String)),
        score           Float64,
        occurred_at     DateTime64(6, 'UTC'),
        correlation_id  String DEFAULT '',
        trace_id        String DEFAULT ''
    ) ENGINE = ReplacingMergeTree
    ORDER BY (tenant_id, user_id, post_id, event_type, event_id)
    """

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS engagement_events (
        event_id     UUID,
        tenant_id    String,
        event_type   LowCardinality(String),
        post_id      String,
        user_id      String,
        author_id    String,
        occurred_at  DateTime64(6, 'UTC'),
        correlation_id String DEFAULT '',
        trace_id     String DEFAULT ''
    ) ENGINE = ReplacingMergeTree
    ORDER BY (tenant_id, post_id, event_id)
    """,
    """
    CREATE TABLE IF NOT EXISTS feed_candidates (
        user_id     String,
        created_at  DateTime64(6, 'UTC'),
        post_id     String,
        tenant_id   String,
        visibility  LowCardinality(String),
        deleted     UInt8,
        version     UInt64,
        event_id    UUID,
        correlation_id String DEFAULT '',
        trace_id    String DEFAULT ''
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (user_id, created_at, post_id)
    """,
    # Data directories created before rows carried the request's ids (no-ops afterwards).
    *(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} String DEFAULT ''"
        for table in ("engagement_events", "feed_candidates")
        for column in ("correlation_id", "trace_id")
    ),
    RECOMMENDATION_EVENTS_DDL,
)


def _request_ids(event: StoredEvent) -> dict[str, str]:
    """The ids of the request that caused ``event``: find its logs and trace from a row."""
    return {
        "correlation_id": event.correlation_id or "",
        "trace_id": tracing.trace_id_of(event.trace_id) or "",
    }


def _ts(value: Any) -> str:
    return str(value).replace("T", " ").replace("+00:00", "")


def _engagement_rows(event: StoredEvent) -> Rows:
    """An engagement row, and a feed-candidate row for post lifecycle events."""
    p = event.payload
    post_id = str(p.get("post_id", event.aggregate_id))
    if "created_at" in p:
        # A malformed timestamp would fail the whole batch's INSERT; checked here, it rejects
        # this event alone, before anything is written.
        dt.datetime.fromisoformat(str(p["created_at"]))
    rows: Rows = {
        "engagement_events": [
            {
                "event_id": str(event.event_id),
                "tenant_id": event.tenant_id,
                "event_type": event.event_type,
                "post_id": post_id,
                # Who engaged: likers carry user_id, commenters commenter_id; a post's own
                # lifecycle events are the author's.
                "user_id": str(p.get("user_id") or p.get("commenter_id") or p.get("author_id", "")),
                "author_id": str(p.get("author_id", "")),
                "occurred_at": _ts(event.occurred_at.isoformat()),
                **_request_ids(event),
            }
        ]
    }
    if event.event_type in {"PostPublished", "PostDeleted"} and "created_at" in p:
        rows["feed_candidates"] = [
            {
                "user_id": str(p["author_id"]),
                "created_at": _ts(p["created_at"]),
                "post_id": post_id,
                "tenant_id": event.tenant_id,
                "visibility": str(p.get("visibility", "public")),
                "deleted": int(event.event_type == "PostDeleted"),
                "version": event.aggregate_version,
                "event_id": str(event.event_id),
                **_request_ids(event),
            }
        ]
    return rows


def _recommendation_rows(event: StoredEvent) -> Rows:
    """A served page's items (one row each) or a click, for ``recommendation_events``."""
    p = event.payload
    common = {
        "event_id": str(event.event_id),
        "tenant_id": event.tenant_id,
        "event_type": event.event_type,
        "user_id": str(p.get("user_id", event.aggregate_id)),
        "occurred_at": _ts(event.occurred_at.isoformat()),
        **_request_ids(event),
    }
    items = p.get("items") if event.event_type == "RecommendationsServed" else [p]
    return {
        "recommendation_events": [
            {
                **common,
                "post_id": str(item.get("post_id", "")),
                "author_id": str(item.get("author_id", "")),
                "position": int(item.get("position", 0)),
                "feed_source": str(p.get("source", "")),
                "reason_sources": [str(s) for s in item.get("sources", ())],
                "score": float(item.get("score", 0.0)),
            }
            for item in items or ()
        ]
    }


class AnalyticsSink:
    """The ``analytics`` consumer.

    Args:
        clickhouse: Where to write.
        name: Consumer name (group and exact-store key).
    """

    def __init__(self, clickhouse: ClickHouse, *, name: str = "analytics") -> None:
        self._ch = clickhouse
        self.name = name

    async def create_schema(self) -> None:
        """Create the tables if missing."""
        for ddl in SCHEMA:
            await self._ch.command(ddl)

    def consumer(self) -> Consumer:
        """This sink as a :class:`~nova.platform.events.Consumer` (a batch handler)."""
        batch = BatchHandler(ENGAGEMENT | RECOMMENDATIONS, prepare=self.rows, apply=self.write)
        return Consumer(name=self.name, handlers={}, batch=batch)

    def rows(self, event: StoredEvent) -> Rows:
        """The rows ``event`` adds, by table (pure: the batch handler's ``prepare``).

        Raises:
            ValueError: the payload's ``created_at`` is not a timestamp, or a number is not one
                (a poison event, rejected before anything is written; so is any other error).
        """
        if event.event_type in RECOMMENDATIONS:
            return _recommendation_rows(event)
        return _engagement_rows(event)

    async def write(self, prepared: Sequence[Rows], conn: object = None) -> None:
        """Insert the rows of ``prepared`` events with one ``INSERT`` per table.

        Args:
            prepared: :meth:`rows` of each event, in log order.
            conn: The consumer's transaction; unused (ClickHouse is not part of it).

        Raises:
            errors.UnavailableError: ClickHouse does not answer (the runner defers the batch).
        """
        del conn
        for table in TABLES:
            rows = [row for event_rows in prepared for row in event_rows.get(table, ())]
            if rows:
                await self._insert(table, rows)

    async def record(self, event: StoredEvent, applying: Applying) -> None:
        """Insert one event's rows: the per-event form of :meth:`rows` and :meth:`write`.

        Raises:
            errors.UnavailableError: ClickHouse does not answer.
            ValueError: a poison event (see :meth:`rows`); nothing is written.
        """
        await self.write([self.rows(event)], applying.conn)

    async def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows``; a failure while ClickHouse does not answer is ``UnavailableError``."""
        try:
            await self._ch.insert(table, rows)
        except Exception as exc:
            if await self._answers():
                raise  # ClickHouse works: these rows are at fault (isolated, retried, DLQ)
            raise errors.UnavailableError(
                "ClickHouse is unavailable; the analytics sink retries when it answers.",
                dependency="clickhouse",
            ) from exc

    async def _answers(self) -> bool:
        try:
            await self._ch.query(_PROBE)
        except Exception:  # noqa: BLE001  # any failure of the probe means "does not answer"
            return False
        return True

    async def counts(self) -> tuple[int, int]:
        """``(count(), uniqExact(event_id))`` of engagement events, after deduplication."""
        rows = await self._ch.query(
            "SELECT count(), uniqExact(event_id) FROM engagement_events FINAL"
        )
        return int(rows[0][0]), int(rows[0][1])
