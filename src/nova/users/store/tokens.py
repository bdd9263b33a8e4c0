"""SQL for refresh tokens: one row per issued token, grouped in rotation families."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "RefreshTokenRow",
    "find_refresh_token_for_update",
    "insert_refresh_token",
    "revoke_family",
    "rotate_refresh_token",
]


@dataclasses.dataclass(frozen=True, slots=True)
class RefreshTokenRow:
    """A stored refresh token (never the token itself, only facts about it)."""

    id: uuid.UUID
    tenant_id: str
    user_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: dt.datetime
    revoked_at: dt.datetime | None


async def insert_refresh_token(
    conn: asyncpg.Connection,
    *,
    token_id: uuid.UUID,
    tenant_id: str,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    token_hash: bytes,
    ttl_seconds: int,
) -> None:
    """Store a new refresh token that expires ``ttl_seconds`` from now."""
    await conn.execute(
        """
        INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at)
        VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
        """,
        token_id,
        tenant_id,
        user_id,
        family_id,
        token_hash,
        float(ttl_seconds),
    )


async def find_refresh_token_for_update(
    conn: asyncpg.Connection, *, token_hash: bytes
) -> RefreshTokenRow | None:
    """The token with this hash, locked so concurrent uses of it are serialized."""
    row = await conn.fetchrow(
        """
        SELECT id, tenant_id, user_id, family_id, expires_at, revoked_at
        FROM refresh_tokens WHERE token_hash = $1
        FOR UPDATE
        """,
        token_hash,
    )
    if row is None:
        return None
    return RefreshTokenRow(
        id=row["id"],
        tenant_id=row["tenant_id"],
        user_id=row["user_id"],
        family_id=row["family_id"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def rotate_refresh_token(
    conn: asyncpg.Connection, *, token_id: uuid.UUID, replaced_by: uuid.UUID
) -> None:
    """Mark a used token revoked and point it at its successor."""
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now(), replaced_by = $2 WHERE id = $1",
        token_id,
        replaced_by,
    )


async def revoke_family(conn: asyncpg.Connection, *, family_id: uuid.UUID) -> int:
    """Revoke every live token of a family; return how many were live."""
    status = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
    )
    return int(status.rsplit(" ", 1)[-1])
