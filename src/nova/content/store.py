"""SQL for posts, comments and likes: connections in, domain objects out. Never commits.

The statements that serve hot paths are module constants so the EXPLAIN test
(``tests/integration/feed/test_explain.py``) checks the very text that runs in production.
Keyset cursors are replaced by sentinel bounds rather than ``($n IS NULL OR …)`` so the
planner always sees a plain index range condition, even with generic plans.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

import asyncpg

from nova.content.domain import Comment, Post, Visibility
from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from nova.platform.db import Connection

__all__ = [
    "COMMENTS_PAGE",
    "LIKED_BY_VIEWER",
    "POSTS_BY_IDS",
    "USER_POSTS_PAGE",
    "add_to_comment_count",
    "add_to_like_count",
    "count_owned_media",
    "decrement_comment_count",
    "delete_like",
    "delete_post",
    "find_comment",
    "find_post",
    "get_posts",
    "insert_comment",
    "insert_like",
    "insert_post",
    "like_count",
    "liked_post_ids",
    "list_comments",
    "list_user_posts",
    "soft_delete_comment",
    "update_post",
]

#: Upper bound for "no cursor" on id-descending listings.
MAX_ID = uuid.UUID(int=(1 << 128) - 1)
#: Lower bound for "no cursor" on id-ascending listings.
MIN_ID = uuid.UUID(int=0)


#: Live posts by id (hydration of any page): primary key lookups.
POSTS_BY_IDS = """
SELECT id, tenant_id, author_id, body, visibility, media_ids, like_count,
       comment_count, version, created_at, edited_at
FROM posts
WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL
"""

#: One author's live posts, newest first, older than $2, limited to visibilities $3.
#: Served by ``posts_author_live (author_id, id DESC) WHERE deleted_at IS NULL``.
USER_POSTS_PAGE = """
SELECT id, tenant_id, author_id, body, visibility, media_ids, like_count,
       comment_count, version, created_at, edited_at
FROM posts
WHERE author_id = $1 AND deleted_at IS NULL AND id < $2 AND visibility = ANY($3::text[])
ORDER BY id DESC
LIMIT $4
"""

#: Which of $2 the user $1 likes: primary key ``likes (post_id, user_id)`` probes.
LIKED_BY_VIEWER = """
SELECT post_id FROM likes WHERE post_id = ANY($2::uuid[]) AND user_id = $1
"""

#: Live comments of a post, oldest first, after $2, hiding authors $3.
#: Served by ``comments_post_page (post_id, id) WHERE deleted_at IS NULL``.
COMMENTS_PAGE = """
SELECT id, tenant_id, post_id, author_id, parent_id, body, created_at
FROM comments
WHERE post_id = $1 AND deleted_at IS NULL AND id > $2 AND author_id <> ALL($3::uuid[])
ORDER BY id
LIMIT $4
"""

_INSERT_POST = """
INSERT INTO posts (id, tenant_id, author_id, body, visibility, media_ids)
VALUES ($1, $2, $3, $4, $5, $6::uuid[])
RETURNING id, tenant_id, author_id, body, visibility, media_ids, like_count,
       comment_count, version, created_at, edited_at
"""

_FIND_POST = """
SELECT id, tenant_id, author_id, body, visibility, media_ids, like_count,
       comment_count, version, created_at, edited_at FROM posts WHERE id = $1 AND deleted_at IS NULL
"""

_UPDATE_POST = """
UPDATE posts
SET body = $3, visibility = $4, edited_at = now(), version = version + 1
WHERE id = $1 AND author_id = $2 AND deleted_at IS NULL
RETURNING id, tenant_id, author_id, body, visibility, media_ids, like_count,
       comment_count, version, created_at, edited_at
"""

_DELETE_POST = """
UPDATE posts SET deleted_at = now()
WHERE id = $1 AND author_id = $2 AND deleted_at IS NULL
RETURNING id
"""

_OWNED_MEDIA = """
SELECT count(*) FROM media WHERE id = ANY($1::uuid[]) AND owner_id = $2 AND tenant_id = $3
"""

_INSERT_LIKE = """
INSERT INTO likes (tenant_id, post_id, user_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING post_id
"""

_DELETE_LIKE = "DELETE FROM likes WHERE post_id = $1 AND user_id = $2 RETURNING post_id"

# Counters move only together with a row that was really inserted or deleted, so they stay
# exact under concurrency: the UPDATE takes the post's row lock and adds to the current value.
_BUMP_LIKES = """
UPDATE posts SET like_count = like_count + $2 WHERE id = $1 AND deleted_at IS NULL
RETURNING like_count
"""

_LIKE_COUNT = "SELECT like_count FROM posts WHERE id = $1 AND deleted_at IS NULL"

_BUMP_COMMENTS = """
UPDATE posts SET comment_count = comment_count + $2 WHERE id = $1 AND deleted_at IS NULL
RETURNING author_id
"""

_INSERT_COMMENT = """
INSERT INTO comments (id, tenant_id, post_id, author_id, parent_id, body)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, tenant_id, post_id, author_id, parent_id, body, created_at
"""

_FIND_COMMENT = """
SELECT id, tenant_id, post_id, author_id, parent_id, body, created_at
FROM comments WHERE id = $1 AND deleted_at IS NULL
"""

_DELETE_COMMENT = """
UPDATE comments SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING id
"""


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Turn integrity violations into Nova errors at the store boundary."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError as exc:
        raise errors.NotFoundError(
            "A referenced user, post or comment does not exist.", field=_fk_field(exc)
        ) from exc
    except asyncpg.CheckViolationError as exc:
        raise errors.InvalidInputError(
            "The value breaks a validation rule; check lengths and allowed values."
        ) from exc
    except asyncpg.UniqueViolationError as exc:
        raise errors.AlreadyExistsError("This already exists.") from exc


def _fk_field(exc: asyncpg.ForeignKeyViolationError) -> str | None:
    constraint = getattr(exc, "constraint_name", None) or ""
    for column, field in (("author_id", "authorId"), ("post_id", "postId")):
        if column in constraint:
            return field
    return "parentId" if "parent_id" in constraint else None


def _post(row: asyncpg.Record) -> Post:
    return Post(
        id=row["id"],
        tenant_id=row["tenant_id"],
        author_id=row["author_id"],
        body=row["body"],
        visibility=Visibility(row["visibility"]),
        media_ids=tuple(row["media_ids"]),
        like_count=row["like_count"],
        comment_count=row["comment_count"],
        version=row["version"],
        created_at=row["created_at"],
        edited_at=row["edited_at"],
    )


def _comment(row: asyncpg.Record) -> Comment:
    return Comment(
        id=row["id"],
        tenant_id=row["tenant_id"],
        post_id=row["post_id"],
        author_id=row["author_id"],
        parent_id=row["parent_id"],
        body=row["body"],
        created_at=row["created_at"],
    )


async def insert_post(
    conn: Connection,
    *,
    post_id: uuid.UUID,
    tenant_id: str,
    author_id: uuid.UUID,
    body: str,
    visibility: Visibility,
    media_ids: Sequence[uuid.UUID],
) -> Post:
    """Insert a post and return it."""
    with _translated():
        row = await conn.fetchrow(
            _INSERT_POST, post_id, tenant_id, author_id, body, str(visibility), list(media_ids)
        )
    if row is None:
        raise RuntimeError("INSERT … RETURNING returned no row")
    return _post(row)


async def count_owned_media(
    conn: Connection, *, media_ids: Sequence[uuid.UUID], owner_id: uuid.UUID, tenant_id: str
) -> int:
    """How many of ``media_ids`` exist and belong to ``owner_id``."""
    count: int = await conn.fetchval(_OWNED_MEDIA, list(media_ids), owner_id, tenant_id)
    return count


async def find_post(conn: Connection, post_id: uuid.UUID) -> Post | None:
    """The live post ``post_id``, or None when absent or deleted."""
    row = await conn.fetchrow(_FIND_POST, post_id)
    return _post(row) if row is not None else None


async def get_posts(conn: Connection, post_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Post]:
    """Live posts by id in one query; absent and deleted ids are missing from the result."""
    if not post_ids:
        return {}
    rows = await conn.fetch(POSTS_BY_IDS, list(post_ids))
    return {row["id"]: _post(row) for row in rows}


async def update_post(
    conn: Connection,
    *,
    post_id: uuid.UUID,
    author_id: uuid.UUID,
    body: str,
    visibility: Visibility,
) -> Post | None:
    """Edit a live post of ``author_id``; None when there is no such post."""
    with _translated():
        row = await conn.fetchrow(_UPDATE_POST, post_id, author_id, body, str(visibility))
    return _post(row) if row is not None else None


async def delete_post(conn: Connection, *, post_id: uuid.UUID, author_id: uuid.UUID) -> bool:
    """Soft-delete a live post of ``author_id``; False when there was none."""
    return await conn.fetchval(_DELETE_POST, post_id, author_id) is not None


async def list_user_posts(
    conn: Connection,
    *,
    author_id: uuid.UUID,
    before: uuid.UUID | None,
    visibilities: Sequence[Visibility],
    limit: int,
) -> list[Post]:
    """Live posts of ``author_id`` older than ``before``, newest first."""
    rows = await conn.fetch(
        USER_POSTS_PAGE, author_id, before or MAX_ID, [str(v) for v in visibilities], limit
    )
    return [_post(row) for row in rows]


async def insert_like(
    conn: Connection, *, tenant_id: str, post_id: uuid.UUID, user_id: uuid.UUID
) -> bool:
    """Record a like; False when the user already liked the post."""
    with _translated():
        return await conn.fetchval(_INSERT_LIKE, tenant_id, post_id, user_id) is not None


async def delete_like(conn: Connection, *, post_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Remove a like; False when there was none."""
    return await conn.fetchval(_DELETE_LIKE, post_id, user_id) is not None


async def add_to_like_count(conn: Connection, post_id: uuid.UUID, delta: int) -> int | None:
    """Add ``delta`` to a live post's like counter; the new count, or None if the post is gone."""
    count: int | None = await conn.fetchval(_BUMP_LIKES, post_id, delta)
    return count


async def like_count(conn: Connection, post_id: uuid.UUID) -> int | None:
    """A live post's like counter, or None if the post is gone."""
    count: int | None = await conn.fetchval(_LIKE_COUNT, post_id)
    return count


async def liked_post_ids(
    conn: Connection, *, user_id: uuid.UUID, post_ids: Sequence[uuid.UUID]
) -> frozenset[uuid.UUID]:
    """Which of ``post_ids`` ``user_id`` likes, in one query."""
    if not post_ids:
        return frozenset()
    rows = await conn.fetch(LIKED_BY_VIEWER, user_id, list(post_ids))
    return frozenset(row["post_id"] for row in rows)


async def add_to_comment_count(
    conn: Connection, post_id: uuid.UUID, delta: int
) -> uuid.UUID | None:
    """Add ``delta`` to a live post's comment counter; its author, or None if the post is gone.

    Taking the post's row lock first also orders a comment against a concurrent delete.
    """
    author: uuid.UUID | None = await conn.fetchval(_BUMP_COMMENTS, post_id, delta)
    return author


async def decrement_comment_count(conn: Connection, post_id: uuid.UUID) -> None:
    """Remove one comment from a post's counter (the post may be deleted meanwhile)."""
    await conn.execute(
        "UPDATE posts SET comment_count = comment_count - 1 WHERE id = $1 AND comment_count > 0",
        post_id,
    )


async def insert_comment(
    conn: Connection,
    *,
    comment_id: uuid.UUID,
    tenant_id: str,
    post_id: uuid.UUID,
    author_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    body: str,
) -> Comment:
    """Insert a comment and return it."""
    with _translated():
        row = await conn.fetchrow(
            _INSERT_COMMENT, comment_id, tenant_id, post_id, author_id, parent_id, body
        )
    if row is None:
        raise RuntimeError("INSERT … RETURNING returned no row")
    return _comment(row)


async def find_comment(conn: Connection, comment_id: uuid.UUID) -> Comment | None:
    """The live comment ``comment_id``, or None."""
    row = await conn.fetchrow(_FIND_COMMENT, comment_id)
    return _comment(row) if row is not None else None


async def soft_delete_comment(conn: Connection, comment_id: uuid.UUID) -> bool:
    """Soft-delete a live comment; False when it was already gone."""
    return await conn.fetchval(_DELETE_COMMENT, comment_id) is not None


async def list_comments(
    conn: Connection,
    *,
    post_id: uuid.UUID,
    after: uuid.UUID | None,
    hidden_author_ids: Sequence[uuid.UUID],
    limit: int,
) -> list[Comment]:
    """Live comments of ``post_id`` after ``after``, oldest first, skipping hidden authors."""
    rows = await conn.fetch(COMMENTS_PAGE, post_id, after or MIN_ID, list(hidden_author_ids), limit)
    return [_comment(row) for row in rows]
