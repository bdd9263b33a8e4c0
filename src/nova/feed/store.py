"""SQL the feed reads: recent post ids of a set of authors. Never writes.

The same statement rebuilds a cold timeline, serves the feed when Redis is down and pulls
the recent posts of high-follower followees; a LATERAL subquery per author walks
``posts_author_live (author_id, id DESC)`` and stops after ``limit`` rows, so the cost is
bounded by authors * limit whatever the table size.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.platform.db import Connection

__all__ = [
    "AUTHOR_RECENT_POSTS",
    "RECENT_POSTS_OF_AUTHORS",
    "PostRef",
    "author_recent_post_ids",
    "recent_posts",
]

#: Upper bound standing in for "no cursor".
MAX_ID = uuid.UUID(int=(1 << 128) - 1)

#: Newest live posts of authors $1 older than $2, at most $3, skipping others' private posts
#: (viewer $4).
RECENT_POSTS_OF_AUTHORS = """
SELECT p.id, p.author_id
FROM unnest($1::uuid[]) AS a (author_id)
CROSS JOIN LATERAL (
    SELECT posts.id, posts.author_id
    FROM posts
    WHERE posts.author_id = a.author_id
      AND posts.deleted_at IS NULL
      AND posts.id < $2
      AND (posts.visibility <> 'private' OR posts.author_id = $4)
    ORDER BY posts.id DESC
    LIMIT $3
) AS p
ORDER BY p.id DESC
LIMIT $3
"""

#: One author's newest live post ids (to take them out of a timeline after unfollow or block).
AUTHOR_RECENT_POSTS = """
SELECT id FROM posts WHERE author_id = $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT $2
"""


@dataclasses.dataclass(frozen=True, slots=True)
class PostRef:
    """A post id with its author, enough to filter before hydrating."""

    id: uuid.UUID
    author_id: uuid.UUID


async def recent_posts(
    conn: Connection,
    *,
    author_ids: Sequence[uuid.UUID],
    viewer_id: uuid.UUID,
    before: uuid.UUID | None,
    limit: int,
) -> list[PostRef]:
    """The newest ``limit`` live posts of ``author_ids`` older than ``before``, newest first."""
    if not author_ids:
        return []
    rows = await conn.fetch(
        RECENT_POSTS_OF_AUTHORS, list(author_ids), before or MAX_ID, limit, viewer_id
    )
    return [PostRef(id=row["id"], author_id=row["author_id"]) for row in rows]


async def author_recent_post_ids(
    conn: Connection, *, author_id: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """``author_id``'s newest ``limit`` live post ids."""
    rows = await conn.fetch(AUTHOR_RECENT_POSTS, author_id, limit)
    return [row["id"] for row in rows]
