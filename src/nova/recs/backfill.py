"""Copy posts and likes from PostgreSQL into the analytics sink's ClickHouse tables.

The event pipeline writes ``engagement_events`` and ``feed_candidates`` as posts and likes
happen; data loaded around it (``nova bench seed`` COPYs straight into PostgreSQL) never reaches
them. :func:`backfill` writes the rows the sink would have written (``PostPublished`` and
``Liked`` events, one candidate per live post). Event ids are derived from the post and the
liker, so a second run writes the same rows, which ``FINAL`` collapses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from nova.platform.analytics import ClickHouse

__all__ = ["BackfillReport", "backfill"]

_NAMESPACE = uuid.UUID("6f0c9a52-6d1e-4d5e-9a43-6b1f7b0e8c21")
_BATCH = 20_000

_POSTS = """
SELECT id, author_id, visibility, created_at FROM posts
WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id
"""
_LIKES = """
SELECT l.post_id, l.user_id, p.author_id, l.created_at
FROM likes l JOIN posts p ON p.id = l.post_id
WHERE l.tenant_id = $1 AND p.deleted_at IS NULL ORDER BY l.post_id, l.user_id
"""


@dataclasses.dataclass(frozen=True, slots=True)
class BackfillReport:
    """What was written."""

    tenant_id: str
    posts: int
    likes: int


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _event_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


async def _insert(ch: ClickHouse, table: str, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _BATCH):
        await ch.insert(table, rows[start : start + _BATCH])


async def backfill(conn: asyncpg.Connection, ch: ClickHouse, tenant_id: str) -> BackfillReport:
    """Write the tenant's live posts and their likes to ClickHouse (tables created if missing)."""
    from nova.analytics_sink.sink import SCHEMA

    for ddl in SCHEMA:
        await ch.command(ddl)
    posts = await conn.fetch(_POSTS, tenant_id)
    published = [
        {
            "event_id": _event_id("post", r["id"]),
            "tenant_id": tenant_id,
            "event_type": "PostPublished",
            "post_id": str(r["id"]),
            "user_id": str(r["author_id"]),
            "author_id": str(r["author_id"]),
            "occurred_at": _ts(r["created_at"]),
        }
        for r in posts
    ]
    candidates = [
        {
            "user_id": str(r["author_id"]),
            "created_at": _ts(r["created_at"]),
            "post_id": str(r["id"]),
            "tenant_id": tenant_id,
            "visibility": str(r["visibility"]),
            "deleted": 0,
            "version": 1,
            "event_id": _event_id("post", r["id"]),
        }
        for r in posts
    ]
    likes = await conn.fetch(_LIKES, tenant_id)
    liked = [
        {
            "event_id": _event_id("like", r["post_id"], r["user_id"]),
            "tenant_id": tenant_id,
            "event_type": "Liked",
            "post_id": str(r["post_id"]),
            "user_id": str(r["user_id"]),
            "author_id": str(r["author_id"]),
            "occurred_at": _ts(r["created_at"]),
        }
        for r in likes
    ]
    await _insert(ch, "engagement_events", published + liked)
    await _insert(ch, "feed_candidates", candidates)
    return BackfillReport(tenant_id=tenant_id, posts=len(posts), likes=len(likes))
