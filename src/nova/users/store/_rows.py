"""Row → domain mapping shared by the store modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from nova.users.domain import User

if TYPE_CHECKING:
    from asyncpg import Record

#: Columns of ``users`` that make a :class:`~nova.users.domain.User` (never the password hash).
USER_COLUMNS: Final = (
    "id, tenant_id, username, display_name, bio, avatar_media_id, is_private, "
    "follower_count, following_count, post_count, created_at, last_active_at"
)


def user_from_row(row: Record) -> User:
    """Build a :class:`User` from a row selected with :data:`USER_COLUMNS`."""
    return User(
        id=row["id"],
        tenant_id=row["tenant_id"],
        username=row["username"],
        display_name=row["display_name"],
        bio=row["bio"],
        avatar_media_id=row["avatar_media_id"],
        is_private=row["is_private"],
        follower_count=row["follower_count"],
        following_count=row["following_count"],
        post_count=row["post_count"],
        created_at=row["created_at"],
        last_active_at=row["last_active_at"],
    )
