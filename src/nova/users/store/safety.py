"""SQL for blocks, mutes, relation versions, relations and preferences.

``relation_versions`` holds one counter per user, bumped whenever that user's hidden set
(blocks either way, mutes) or preferences change. Cached values carry the version they were read
at, read in the *same statement* as the value so both come from one snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from nova.users.domain import FollowState, Relation

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    import asyncpg

__all__ = [
    "bump_version",
    "delete_block",
    "delete_mute",
    "insert_block",
    "insert_mute",
    "load_hidden",
    "load_preferences",
    "merge_preferences",
    "relations",
]


async def insert_block(
    conn: asyncpg.Connection, *, tenant_id: str, blocker_id: uuid.UUID, blocked_id: uuid.UUID
) -> bool:
    """Create the block; True only when this statement inserted it."""
    inserted = await conn.fetchval(
        """
        INSERT INTO blocks (tenant_id, blocker_id, blocked_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        tenant_id,
        blocker_id,
        blocked_id,
    )
    return inserted is True


async def delete_block(
    conn: asyncpg.Connection, *, blocker_id: uuid.UUID, blocked_id: uuid.UUID
) -> bool:
    """Remove the block; True only when this statement deleted it."""
    deleted = await conn.fetchval(
        "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING true",
        blocker_id,
        blocked_id,
    )
    return deleted is True


async def insert_mute(
    conn: asyncpg.Connection, *, tenant_id: str, muter_id: uuid.UUID, muted_id: uuid.UUID
) -> bool:
    """Create the mute; True only when this statement inserted it."""
    inserted = await conn.fetchval(
        """
        INSERT INTO mutes (tenant_id, muter_id, muted_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        tenant_id,
        muter_id,
        muted_id,
    )
    return inserted is True


async def delete_mute(
    conn: asyncpg.Connection, *, muter_id: uuid.UUID, muted_id: uuid.UUID
) -> bool:
    """Remove the mute; True only when this statement deleted it."""
    deleted = await conn.fetchval(
        "DELETE FROM mutes WHERE muter_id = $1 AND muted_id = $2 RETURNING true",
        muter_id,
        muted_id,
    )
    return deleted is True


async def bump_version(conn: asyncpg.Connection, *, user_id: uuid.UUID) -> int:
    """Increment ``user_id``'s relation version; return the version this transaction commits."""
    version = await conn.fetchval(
        """
        INSERT INTO relation_versions (user_id, version) VALUES ($1, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = relation_versions.version + 1
        RETURNING version
        """,
        user_id,
    )
    return int(version)


async def load_hidden(
    conn: asyncpg.Connection, *, user_id: uuid.UUID
) -> tuple[int, frozenset[uuid.UUID]]:
    """``(version, ids)``: users ``user_id`` blocks, is blocked by, or mutes — one snapshot."""
    row = await conn.fetchrow(
        """
        SELECT
          COALESCE((SELECT version FROM relation_versions WHERE user_id = $1), 0) AS version,
          ARRAY(
            SELECT blocked_id FROM blocks WHERE blocker_id = $1
            UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1
            UNION SELECT muted_id FROM mutes WHERE muter_id = $1
          ) AS ids
        """,
        user_id,
    )
    if row is None:  # pragma: no cover - a SELECT without FROM always yields one row
        raise RuntimeError("load_hidden returned no row")
    return int(row["version"]), frozenset(row["ids"])


async def load_preferences(
    conn: asyncpg.Connection, *, user_id: uuid.UUID
) -> tuple[int, dict[str, Any]]:
    """``(version, stored overrides)`` of ``user_id`` — one snapshot."""
    row = await conn.fetchrow(
        """
        SELECT
          COALESCE((SELECT version FROM relation_versions WHERE user_id = $1), 0) AS version,
          (SELECT data::text FROM preferences WHERE user_id = $1) AS data
        """,
        user_id,
    )
    if row is None:  # pragma: no cover - a SELECT without FROM always yields one row
        raise RuntimeError("load_preferences returned no row")
    data = orjson.loads(row["data"]) if row["data"] is not None else {}
    return int(row["version"]), data if isinstance(data, dict) else {}


async def merge_preferences(
    conn: asyncpg.Connection, *, tenant_id: str, user_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Merge ``changes`` into the stored overrides; return all stored overrides."""
    data = await conn.fetchval(
        """
        INSERT INTO preferences (user_id, tenant_id, data) VALUES ($1, $2, $3::jsonb)
        ON CONFLICT (user_id)
        DO UPDATE SET data = preferences.data || EXCLUDED.data, updated_at = now()
        RETURNING data::text
        """,
        user_id,
        tenant_id,
        orjson.dumps(changes).decode(),
    )
    merged = orjson.loads(data)
    return merged if isinstance(merged, dict) else {}


async def relations(
    conn: asyncpg.Connection, *, viewer_id: uuid.UUID, other_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Relation]:
    """The viewer's relation to each of ``other_ids`` in one query (primary-key probes only)."""
    rows = await conn.fetch(
        """
        SELECT o.id,
          EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = o.id)
            AS following,
          EXISTS (SELECT 1 FROM follow_requests WHERE requester_id = $1 AND target_id = o.id)
            AS requested,
          EXISTS (SELECT 1 FROM follows WHERE follower_id = o.id AND followee_id = $1)
            AS followed_by,
          EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = o.id) AS blocking,
          EXISTS (SELECT 1 FROM blocks WHERE blocker_id = o.id AND blocked_id = $1) AS blocked_by,
          EXISTS (SELECT 1 FROM mutes WHERE muter_id = $1 AND muted_id = o.id) AS muting
        FROM unnest($2::uuid[]) AS o (id)
        """,
        viewer_id,
        list(dict.fromkeys(other_ids)),
    )
    return {
        r["id"]: Relation(
            follow=(
                FollowState.FOLLOWING
                if r["following"]
                else FollowState.REQUESTED
                if r["requested"]
                else FollowState.NONE
            ),
            followed_by=r["followed_by"],
            blocking=r["blocking"],
            blocked_by=r["blocked_by"],
            muting=r["muting"],
        )
        for r in rows
    }
