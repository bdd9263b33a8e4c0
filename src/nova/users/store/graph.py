"""SQL for the follow graph: follows, follow requests, their counters and pages.

Counters change only by the rows a statement actually inserted or deleted (``RETURNING``), so
they stay equal to ``COUNT(*)`` under any interleaving; callers hold both users' row locks
(:func:`nova.users.store.accounts.lock_users`), which also orders the counter updates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Final, Literal

from nova.users.domain import User
from nova.users.store._rows import USER_COLUMNS, user_from_row

if TYPE_CHECKING:
    from collections.abc import Iterable

    import asyncpg


__all__ = [
    "Edge",
    "PairFacts",
    "active_follower_ids",
    "adjust_counts",
    "delete_follow",
    "delete_follow_request",
    "delete_pair_edges",
    "followee_ids",
    "insert_follow",
    "insert_follow_request",
    "list_edges",
    "pair_facts",
]

ListKind = Literal["followers", "following", "requests"]

# Per list: the table, the column naming the page owner, the column naming the listed user.
# Each (owner, created_at DESC, listed DESC) is served by one index: follows_followee_page,
# follows_follower_page, follow_requests_target_page.
_LISTS: Final[dict[str, tuple[str, str, str]]] = {
    "followers": ("follows", "followee_id", "follower_id"),
    "following": ("follows", "follower_id", "followee_id"),
    "requests": ("follow_requests", "target_id", "requester_id"),
}


@dataclasses.dataclass(frozen=True, slots=True)
class PairFacts:
    """What the follow rules need to know about ``a`` → ``b``."""

    blocked: bool
    following: bool
    requested: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Edge:
    """A listed user and when the edge to them was created (the keyset)."""

    user: User
    created_at: dt.datetime


async def pair_facts(conn: asyncpg.Connection, *, a: uuid.UUID, b: uuid.UUID) -> PairFacts:
    """Block (either way), follow and pending request of ``a`` towards ``b``, in one query."""
    row = await conn.fetchrow(
        """
        SELECT
          EXISTS (SELECT 1 FROM blocks WHERE (blocker_id, blocked_id) IN (($1, $2), ($2, $1)))
            AS blocked,
          EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2)
            AS following,
          EXISTS (SELECT 1 FROM follow_requests WHERE requester_id = $1 AND target_id = $2)
            AS requested
        """,
        a,
        b,
    )
    if row is None:  # pragma: no cover - a SELECT without FROM always yields one row
        raise RuntimeError("pair_facts returned no row")
    return PairFacts(blocked=row["blocked"], following=row["following"], requested=row["requested"])


async def insert_follow(
    conn: asyncpg.Connection, *, tenant_id: str, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> bool:
    """Create the follow; True only when this statement inserted it."""
    inserted = await conn.fetchval(
        """
        INSERT INTO follows (tenant_id, follower_id, followee_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        RETURNING true
        """,
        tenant_id,
        follower_id,
        followee_id,
    )
    return inserted is True


async def delete_follow(
    conn: asyncpg.Connection, *, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> bool:
    """Remove the follow; True only when this statement deleted it."""
    deleted = await conn.fetchval(
        "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2 RETURNING true",
        follower_id,
        followee_id,
    )
    return deleted is True


async def insert_follow_request(
    conn: asyncpg.Connection, *, tenant_id: str, requester_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """Create the pending request; True only when this statement inserted it."""
    inserted = await conn.fetchval(
        """
        INSERT INTO follow_requests (tenant_id, requester_id, target_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        RETURNING true
        """,
        tenant_id,
        requester_id,
        target_id,
    )
    return inserted is True


async def delete_follow_request(
    conn: asyncpg.Connection, *, requester_id: uuid.UUID, target_id: uuid.UUID
) -> bool:
    """Remove the pending request; True only when this statement deleted it."""
    deleted = await conn.fetchval(
        "DELETE FROM follow_requests WHERE requester_id = $1 AND target_id = $2 RETURNING true",
        requester_id,
        target_id,
    )
    return deleted is True


async def delete_pair_edges(
    conn: asyncpg.Connection, *, a: uuid.UUID, b: uuid.UUID
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Remove follows and requests between ``a`` and ``b`` in both directions.

    Returns:
        The ``(follower, followee)`` follows actually deleted (requests carry no counters).
    """
    await conn.execute(
        "DELETE FROM follow_requests WHERE (requester_id, target_id) IN (($1, $2), ($2, $1))",
        a,
        b,
    )
    rows = await conn.fetch(
        """
        DELETE FROM follows WHERE (follower_id, followee_id) IN (($1, $2), ($2, $1))
        RETURNING follower_id, followee_id
        """,
        a,
        b,
    )
    return [(r["follower_id"], r["followee_id"]) for r in rows]


async def adjust_counts(
    conn: asyncpg.Connection, follows: Iterable[tuple[uuid.UUID, uuid.UUID]], *, delta: int
) -> None:
    """Add ``delta`` to the counters of each ``(follower, followee)`` follow, in one statement."""
    followers: Counter[uuid.UUID] = Counter()
    following: Counter[uuid.UUID] = Counter()
    for follower_id, followee_id in follows:
        following[follower_id] += delta
        followers[followee_id] += delta
    ids = sorted(set(followers) | set(following))
    if not ids:
        return
    await conn.execute(
        """
        UPDATE users AS u
        SET follower_count = u.follower_count + d.followers,
            following_count = u.following_count + d.following
        FROM unnest($1::uuid[], $2::int[], $3::int[]) AS d (id, followers, following)
        WHERE u.id = d.id
        """,
        ids,
        [followers[i] for i in ids],
        [following[i] for i in ids],
    )


async def list_edges(
    conn: asyncpg.Connection,
    kind: ListKind,
    *,
    owner_id: uuid.UUID,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[Edge]:
    """One page of ``kind`` for ``owner_id``, newest first, after the keyset ``after``."""
    table, owner, listed = _LISTS[kind]
    keyset = f"AND (e.created_at, e.{listed}) < ($2, $3)" if after is not None else ""
    args: list[object] = [owner_id]
    if after is not None:
        args += [after[0], after[1]]
    args.append(limit)
    rows = await conn.fetch(
        f"""
        SELECT {", ".join("u." + c.strip() for c in USER_COLUMNS.split(","))},
               e.created_at AS edge_created_at
        FROM {table} AS e JOIN users AS u ON u.id = e.{listed}
        WHERE e.{owner} = $1 {keyset}
        ORDER BY e.created_at DESC, e.{listed} DESC
        LIMIT ${len(args)}
        """,  # noqa: S608  # interpolates module constants only
        *args,
    )
    return [Edge(user=user_from_row(r), created_at=r["edge_created_at"]) for r in rows]


async def followee_ids(
    conn: asyncpg.Connection, *, user_id: uuid.UUID, limit: int
) -> list[uuid.UUID]:
    """Everyone ``user_id`` follows, newest follow first, at most ``limit``."""
    rows = await conn.fetch(
        """
        SELECT followee_id FROM follows WHERE follower_id = $1
        ORDER BY created_at DESC, followee_id DESC
        LIMIT $2
        """,
        user_id,
        limit,
    )
    return [r["followee_id"] for r in rows]


async def active_follower_ids(
    conn: asyncpg.Connection,
    *,
    author_id: uuid.UUID,
    active_since: dt.datetime,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Followers of ``author_id`` active since ``active_since``, by id, after ``after``.

    Served by ``follows_followee_follower`` (migration 0002): an index range scan in follower
    id order with no sort, so paging through 100k followers costs one index pass in total.
    """
    rows = await conn.fetch(
        """
        SELECT f.follower_id
        FROM follows AS f JOIN users AS u ON u.id = f.follower_id
        WHERE f.followee_id = $1 AND f.follower_id > $2 AND u.last_active_at >= $3
        ORDER BY f.follower_id
        LIMIT $4
        """,
        author_id,
        after or uuid.UUID(int=0),
        active_since,
        limit,
    )
    return [r["follower_id"] for r in rows]
