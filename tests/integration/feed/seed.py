"""Bulk seeding for feed and content tests: COPY users, follows, posts straight into tables.

Thousands of users through the register use case would take minutes (argon2); COPY takes
milliseconds. Counters are recomputed from the rows, as the users service keeps them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from nova.platform.ids import new_id

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable, Sequence

    import asyncpg

USER_COLUMNS = ["id", "tenant_id", "username", "email", "password_hash", "last_active_at"]


async def copy_users(
    conn: asyncpg.Connection,
    count: int,
    *,
    prefix: str,
    last_active_at: dt.datetime | None = None,
) -> list[uuid.UUID]:
    """Create ``count`` users named ``{prefix}_{i:06d}``; returns their ids in creation order."""
    seen = last_active_at or dt.datetime.now(dt.UTC)
    ids = [new_id() for _ in range(count)]
    await conn.copy_records_to_table(
        "users",
        columns=USER_COLUMNS,
        records=[
            (uid, "default", f"{prefix}_{i:06d}", f"{prefix}_{i:06d}@seed.test", "!", seen)
            for i, uid in enumerate(ids)
        ],
    )
    return ids


async def copy_follows(
    conn: asyncpg.Connection, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    """Insert ``(follower, followee)`` rows and bring both users' counters up to date."""
    rows = [("default", a, b) for a, b in pairs]
    await conn.copy_records_to_table(
        "follows", columns=["tenant_id", "follower_id", "followee_id"], records=rows
    )
    await recount(conn, {r[1] for r in rows} | {r[2] for r in rows})


async def recount(conn: asyncpg.Connection, user_ids: Iterable[uuid.UUID]) -> None:
    """Set follower/following counters of ``user_ids`` from the follows table."""
    await conn.execute(
        """
        UPDATE users SET
            follower_count = (SELECT count(*) FROM follows WHERE followee_id = users.id),
            following_count = (SELECT count(*) FROM follows WHERE follower_id = users.id)
        WHERE id = ANY($1::uuid[])
        """,
        list(user_ids),
    )


async def copy_posts(
    conn: asyncpg.Connection, authors: Sequence[uuid.UUID], per_author: int
) -> list[uuid.UUID]:
    """``per_author`` public posts for each author; returns the post ids."""
    records = [
        (new_id(), "default", author, "seeded", "public")
        for _ in range(per_author)
        for author in authors
    ]
    await conn.copy_records_to_table(
        "posts", columns=["id", "tenant_id", "author_id", "body", "visibility"], records=records
    )
    return [r[0] for r in records]
