"""Users: accounts, profiles, the social graph and its rules. Pure: stdlib only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid

__all__ = ["FollowState", "Relation", "User"]


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A user's public profile and counters."""

    id: uuid.UUID
    tenant_id: str
    username: str
    display_name: str
    bio: str
    avatar_media_id: uuid.UUID | None
    is_private: bool
    follower_count: int
    following_count: int
    post_count: int
    created_at: dt.datetime
    last_active_at: dt.datetime | None


class FollowState(enum.StrEnum):
    """Where the viewer stands towards another user."""

    NONE = "none"
    REQUESTED = "requested"
    FOLLOWING = "following"


@dataclasses.dataclass(frozen=True, slots=True)
class Relation:
    """The viewer's relation to one other user, as authorization needs it."""

    follow: FollowState
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool

    @property
    def blocked_either_way(self) -> bool:
        """True when either user blocks the other: they are invisible to each other."""
        return self.blocking or self.blocked_by
