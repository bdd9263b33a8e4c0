"""Writes engagement events and feed candidates into ClickHouse, deduplicated by ``event_id``.

Tables (``ReplacingMergeTree``: a row written twice, e.g. after a crash between the insert and
the consumer's commit, collapses at merge time and under ``FINAL``):

* ``engagement_events`` ``ORDER BY (tenant_id, post_id, event_id)``: per-post engagement
  scans (trending, affinity) read a contiguous range; ``event_id`` ends the key so duplicates
  share one key.
* ``feed_candidates`` ``ORDER BY (user_id, created_at, post_id)``, versioned by the post's
  aggregate version: a deletion (``deleted = 1``) replaces the published row and a late
  publish (lower version) cannot bring it back.

The consumer's exact store already drops redelivered events, so ``count() = uniqExact(event_id)``
holds even before merges except across that crash window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nova.platform.events import Consumer

if TYPE_CHECKING:
    from nova.platform.analytics import ClickHouse
    from nova.platform.events import Applying, StoredEvent

__all__ = ["ENGAGEMENT", "SCHEMA", "AnalyticsSink"]

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

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS engagement_events (
        event_id     UUID,
        tenant_id    String,
        event_type   LowCardinality(String),
        post_id      String,
        user_id      String,
        author_id    String,
        occurred_at  DateTime64(6, 'UTC')
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
        event_id    UUID
    ) ENGINE = ReplacingMergeTree(version)
    ORDER BY (user_id, created_at, post_id)
    """,
)


def _ts(value: Any) -> str:
    return str(value).replace("T", " ").replace("+00:00", "")


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
        """This sink as a :class:`~nova.platform.events.Consumer`."""
        return Consumer(name=self.name, handlers={t: [self.record] for t in ENGAGEMENT})

    async def record(self, event: StoredEvent, applying: Applying) -> None:
        """Insert one engagement event (and a feed-candidate row for post lifecycle events)."""
        p = event.payload
        post_id = str(p.get("post_id", event.aggregate_id))
        await self._ch.insert(
            "engagement_events",
            [
                {
                    "event_id": str(event.event_id),
                    "tenant_id": event.tenant_id,
                    "event_type": event.event_type,
                    "post_id": post_id,
                    # Who engaged: likers carry user_id, commenters commenter_id; a post's
                    # own lifecycle events are the author's.
                    "user_id": str(
                        p.get("user_id") or p.get("commenter_id") or p.get("author_id", "")
                    ),
                    "author_id": str(p.get("author_id", "")),
                    "occurred_at": _ts(event.occurred_at.isoformat()),
                }
            ],
        )
        if event.event_type in {"PostPublished", "PostDeleted"} and "created_at" in p:
            await self._ch.insert(
                "feed_candidates",
                [
                    {
                        "user_id": str(p["author_id"]),
                        "created_at": _ts(p["created_at"]),
                        "post_id": post_id,
                        "tenant_id": event.tenant_id,
                        "visibility": str(p.get("visibility", "public")),
                        "deleted": int(event.event_type == "PostDeleted"),
                        "version": event.aggregate_version,
                        "event_id": str(event.event_id),
                    }
                ],
            )

    async def counts(self) -> tuple[int, int]:
        """``(count(), uniqExact(event_id))`` of engagement events, after deduplication."""
        rows = await self._ch.query(
            "SELECT count(), uniqExact(event_id) FROM engagement_events FINAL"
        )
        return int(rows[0][0]), int(rows[0][1])
