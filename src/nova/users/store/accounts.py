"""SQL for accounts and profiles: the ``users`` table."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg

from nova.platform import errors
from nova.users.store._rows import USER_COLUMNS, user_from_row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.users.domain import User

__all__ = [
    "Credentials",
    "LockedUser",
    "find_credentials",
    "find_users",
    "get_user",
    "get_user_by_username",
    "insert_user",
    "lock_users",
    "search_users",
    "set_password_hash",
    "touch_last_active",
    "update_profile",
]

_TAKEN = {
    "users_tenant_username_key": (errors.ErrorCode.USERNAME_TAKEN, "username", "username"),
    "users_tenant_email_key": (errors.ErrorCode.EMAIL_TAKEN, "email", "email address"),
}

# Both lookups are served by the unique expression indexes on lower(email) / lower(username).
_CREDENTIALS_BY_EMAIL = (
    "SELECT id, password_hash FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)"
)
_CREDENTIALS_BY_USERNAME = (
    "SELECT id, password_hash FROM users WHERE tenant_id = $1 AND lower(username) = lower($2)"
)
_USERS_BY_IDS = f"""
SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = ANY($2::uuid[])
"""  # noqa: S608  # interpolates module constants only
_USER_BY_USERNAME = f"""
SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND lower(username) = lower($2)
"""  # noqa: S608  # interpolates module constants only


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    """What login needs: the id and the stored password hash."""

    user_id: uuid.UUID
    password_hash: str


@dataclasses.dataclass(frozen=True, slots=True)
class LockedUser:
    """A user row locked for the rest of the transaction, with the facts graph rules need."""

    id: uuid.UUID
    is_private: bool
    following_count: int


async def insert_user(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    tenant_id: str,
    username: str,
    email: str,
    password_hash: str,
    display_name: str,
) -> User:
    """Insert an account.

    Raises:
        errors.AlreadyExistsError: ``USERNAME_TAKEN`` or ``EMAIL_TAKEN`` (case-insensitive).
    """
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO users (id, tenant_id, username, email, password_hash, display_name)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING {USER_COLUMNS}
            """,  # noqa: S608  # interpolates module constants only
            user_id,
            tenant_id,
            username,
            email,
            password_hash,
            display_name,
        )
    except asyncpg.UniqueViolationError as exc:
        code, field, noun = _TAKEN.get(
            exc.constraint_name or "", (errors.ErrorCode.ALREADY_EXISTS, None, "account")
        )
        raise errors.AlreadyExistsError(
            f"That {noun} is already taken; choose another.", field=field, code=code
        ) from exc
    if row is None:  # pragma: no cover - INSERT … RETURNING always yields the row
        raise RuntimeError("INSERT … RETURNING returned no row")
    return user_from_row(row)


async def find_credentials(
    conn: asyncpg.Connection, *, tenant_id: str, login: str
) -> Credentials | None:
    """The credentials of the user whose username or email is ``login`` (case-insensitive)."""
    row = await conn.fetchrow(
        _CREDENTIALS_BY_EMAIL if "@" in login else _CREDENTIALS_BY_USERNAME, tenant_id, login
    )
    if row is None:
        return None
    return Credentials(user_id=row["id"], password_hash=row["password_hash"])


async def set_password_hash(conn: asyncpg.Connection, *, user_id: uuid.UUID, encoded: str) -> None:
    """Replace a user's password hash (rehash on login after a parameter upgrade)."""
    await conn.execute(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", user_id, encoded
    )


async def find_users(
    conn: asyncpg.Connection, *, tenant_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, User]:
    """Users by id in one query; unknown ids are absent."""
    rows = await conn.fetch(
        _USERS_BY_IDS,
        tenant_id,
        list(ids),
    )
    return {row["id"]: user_from_row(row) for row in rows}


async def get_user(conn: asyncpg.Connection, *, tenant_id: str, user_id: uuid.UUID) -> User:
    """The user ``user_id``.

    Raises:
        errors.NotFoundError: no such user in this tenant.
    """
    found = await find_users(conn, tenant_id=tenant_id, ids=[user_id])
    if user_id not in found:
        raise errors.NotFoundError("No such user.", field="userId")
    return found[user_id]


async def get_user_by_username(conn: asyncpg.Connection, *, tenant_id: str, username: str) -> User:
    """The user named ``username`` (case-insensitive).

    Raises:
        errors.NotFoundError: no such user in this tenant.
    """
    row = await conn.fetchrow(
        _USER_BY_USERNAME,
        tenant_id,
        username,
    )
    if row is None:
        raise errors.NotFoundError("No such user.", field="username")
    return user_from_row(row)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_users(
    conn: asyncpg.Connection, *, tenant_id: str, prefix: str, limit: int
) -> list[User]:
    """Users whose lower-cased username starts with ``prefix`` (already lower-case).

    The LIKE pattern escapes ``_`` and ``%`` so they match literally. The explicit range on the
    same expression lets the ``text_pattern_ops`` index serve the query even under a generic
    prepared-statement plan, where PostgreSQL cannot derive index bounds from ``LIKE $4``; and
    ordering by that opclass's operator (``USING ~<~``, byte order) lets the index return rows
    already sorted, so ``LIMIT`` stops early instead of sorting every match.
    """
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = await conn.fetch(
        f"""
        SELECT {USER_COLUMNS} FROM users
        WHERE tenant_id = $1
          AND lower(username) ~>=~ $2 AND lower(username) ~<~ $3
          AND lower(username) LIKE $4 ESCAPE '\\'
        ORDER BY lower(username) USING ~<~
        LIMIT $5
        """,  # noqa: S608  # interpolates module constants only
        tenant_id,
        prefix,
        upper,
        _like_escape(prefix) + "%",
        limit,
    )
    return [user_from_row(row) for row in rows]


async def update_profile(
    conn: asyncpg.Connection, *, tenant_id: str, user_id: uuid.UUID, changes: dict[str, Any]
) -> User:
    """Apply ``changes`` (column → value; keys from a fixed set) and return the new profile.

    Raises:
        errors.NotFoundError: no such user, or the avatar media does not exist.
    """
    allowed = {"display_name", "bio", "avatar_media_id", "is_private"}
    columns = [c for c in changes if c in allowed]
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=3))
    try:
        row = await conn.fetchrow(
            f"""
            UPDATE users SET {assignments}, updated_at = now()
            WHERE tenant_id = $1 AND id = $2
            RETURNING {USER_COLUMNS}
            """,  # noqa: S608  # interpolates module constants only
            tenant_id,
            user_id,
            *(changes[c] for c in columns),
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise errors.NotFoundError(
            "The avatar media does not exist; upload it first.", field="avatarMediaId"
        ) from exc
    if row is None:
        raise errors.NotFoundError("No such user.", field="userId")
    return user_from_row(row)


async def touch_last_active(conn: asyncpg.Connection, *, user_id: uuid.UUID) -> bool:
    """Set ``last_active_at`` to now unless it was set within the last minute.

    Returns:
        True when the row was written.
    """
    status = await conn.execute(
        """
        UPDATE users SET last_active_at = now()
        WHERE id = $1
          AND (last_active_at IS NULL OR last_active_at < now() - interval '1 minute')
        """,
        user_id,
    )
    return status != "UPDATE 0"


async def lock_users(
    conn: asyncpg.Connection, *, tenant_id: str, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LockedUser]:
    """Lock the rows of ``ids`` until the transaction ends, always in id order.

    Every use case that changes the relation between two users (follow, block, approve …)
    locks both rows first. Id order means two such transactions can never deadlock, and the
    lock serializes them, so counters stay exact and a follow cannot slip in beside a block.
    ``FOR NO KEY UPDATE`` leaves foreign-key checks (``FOR KEY SHARE``) unblocked.
    """
    rows = await conn.fetch(
        """
        SELECT id, is_private, following_count FROM users
        WHERE tenant_id = $1 AND id = ANY($2::uuid[])
        ORDER BY id
        FOR NO KEY UPDATE
        """,
        tenant_id,
        sorted(set(ids)),
    )
    return {
        r["id"]: LockedUser(
            id=r["id"], is_private=r["is_private"], following_count=r["following_count"]
        )
        for r in rows
    }
