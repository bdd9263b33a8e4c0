"""What the gateway needs of the users service, as a protocol over its client.

The gateway reaches services only through their client protocols. :class:`UsersApi` is
:class:`~nova.users.client.UsersClient` plus the account, profile and graph use cases the
public API exposes, with the same keyword-only signatures as the service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nova.users.client import UsersClient
from nova.users.domain import Unset

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping

    from nova.platform.context import Actor
    from nova.users.domain import AccessClaims, FollowState, Page, Preferences, TokenPair, User

__all__ = ["UsersApi"]


class UsersApi(UsersClient, Protocol):
    """The users client as the gateway uses it."""

    async def register(
        self,
        actor: Actor,
        *,
        username: str,
        email: str,
        password: str,
        display_name: str | None = None,
    ) -> User:
        """Create an account."""
        ...

    async def login(self, actor: Actor, *, username_or_email: str, password: str) -> TokenPair:
        """Exchange credentials for tokens."""
        ...

    async def refresh(self, actor: Actor, *, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair."""
        ...

    async def logout(self, actor: Actor, *, refresh_token: str) -> None:
        """Revoke a refresh token."""
        ...

    async def authenticate(self, actor: Actor, *, access_token: str) -> AccessClaims:
        """Verify an access token."""
        ...

    async def touch_last_active(self, actor: Actor) -> None:
        """Record that the caller is active (at most one write a minute per user)."""
        ...

    async def get_by_username(self, actor: Actor, *, username: str) -> User:
        """A profile by username."""
        ...

    async def search_users(self, actor: Actor, *, prefix: str, limit: int = 10) -> list[User]:
        """Users whose username starts with ``prefix``."""
        ...

    async def update_profile(
        self,
        actor: Actor,
        *,
        display_name: str | Unset = Unset.UNSET,
        bio: str | Unset = Unset.UNSET,
        is_private: bool | Unset = Unset.UNSET,
    ) -> User:
        """Change the caller's profile."""
        ...

    async def update_preferences(
        self, actor: Actor, *, changes: Mapping[str, object]
    ) -> Preferences:
        """Change some of the caller's preferences."""
        ...

    async def follow(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> FollowState:
        """Follow (or request to follow) a user."""
        ...

    async def unfollow(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Stop following, or withdraw a request."""
        ...

    async def approve_follow_request(self, actor: Actor, *, requester_id: uuid.UUID) -> None:
        """Accept a pending follow request."""
        ...

    async def reject_follow_request(self, actor: Actor, *, requester_id: uuid.UUID) -> None:
        """Decline a pending follow request."""
        ...

    async def block(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Block a user."""
        ...

    async def unblock(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Unblock a user."""
        ...

    async def mute(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Mute a user."""
        ...

    async def unmute(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Unmute a user."""
        ...

    async def list_followers(
        self, actor: Actor, *, user_id: uuid.UUID, after: str | None = None, limit: int = 20
    ) -> Page[User]:
        """A page of a user's followers."""
        ...

    async def list_following(
        self, actor: Actor, *, user_id: uuid.UUID, after: str | None = None, limit: int = 20
    ) -> Page[User]:
        """A page of the users someone follows."""
        ...

    async def list_follow_requests(
        self, actor: Actor, *, after: str | None = None, limit: int = 20
    ) -> Page[User]:
        """A page of pending requests to follow the caller."""
        ...
