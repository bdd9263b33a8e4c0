"""The interface other services use to reach users: ``UsersClient``.

In the single-process wiring :class:`LocalUsersClient` calls the service directly; the gRPC
wiring provides another implementation of the same protocol. Callers depend on the protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nova.users.domain import FollowState, Preferences, Relation, User

if TYPE_CHECKING:
    import datetime as dt
    import uuid
    from collections.abc import Sequence

    from nova.platform.context import Actor
    from nova.users.service import UsersService

__all__ = ["FollowState", "LocalUsersClient", "Preferences", "Relation", "User", "UsersClient"]


class UsersClient(Protocol):
    """What content, feed and the gateway may ask of the users service."""

    async def get_users(self, actor: Actor, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        """Profiles by id in one call; unknown ids are absent from the result."""
        ...

    async def relations(
        self, actor: Actor, *, viewer_id: uuid.UUID, other_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Relation]:
        """The viewer's relation to each of ``other_ids``, in one call."""
        ...

    async def hidden_author_ids(self, actor: Actor, viewer_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """Users whose content the viewer must not see: blocked either way, or muted.

        Read through the version-fenced cache: a block is visible on the next call.
        """
        ...

    async def followee_ids(self, actor: Actor, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Everyone ``user_id`` follows (approved follows only); bounded by the follow cap."""
        ...

    async def active_follower_ids(
        self,
        actor: Actor,
        author_id: uuid.UUID,
        *,
        active_since: dt.datetime,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[uuid.UUID]:
        """Followers of ``author_id`` seen since ``active_since``, in id order, for fan-out."""
        ...

    async def follower_count(self, actor: Actor, user_id: uuid.UUID) -> int:
        """How many approved followers ``user_id`` has."""
        ...

    async def get_preferences(self, actor: Actor, user_id: uuid.UUID) -> Preferences:
        """``user_id``'s preferences (e.g. ``who_can_comment``), defaults filled in."""
        ...


class LocalUsersClient:
    """:class:`UsersClient` for the single-process wiring: calls the service directly.

    Args:
        service: The users service of this process.

    Example:
        >>> users: UsersClient = LocalUsersClient(service)                  # doctest: +SKIP
        >>> hidden = await users.hidden_author_ids(actor, viewer_id)        # doctest: +SKIP
    """

    def __init__(self, service: UsersService) -> None:
        self._service = service
        # The account, profile and graph use cases the gateway calls keep the service's own
        # keyword-only signatures; in-process they are the service's bound methods.
        self.register = service.register
        self.login = service.login
        self.refresh = service.refresh
        self.logout = service.logout
        self.authenticate = service.authenticate
        self.get_by_username = service.get_by_username
        self.search_users = service.search_users
        self.update_profile = service.update_profile
        self.update_preferences = service.update_preferences
        self.follow = service.follow
        self.unfollow = service.unfollow
        self.approve_follow_request = service.approve_follow_request
        self.reject_follow_request = service.reject_follow_request
        self.block = service.block
        self.unblock = service.unblock
        self.mute = service.mute
        self.unmute = service.unmute
        self.list_followers = service.list_followers
        self.list_following = service.list_following
        self.list_follow_requests = service.list_follow_requests
        self.touch_last_active = service.touch_last_active

    async def get_users(self, actor: Actor, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        """See :meth:`UsersClient.get_users`."""
        return await self._service.get_users(actor, ids=ids)

    async def relations(
        self, actor: Actor, *, viewer_id: uuid.UUID, other_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Relation]:
        """See :meth:`UsersClient.relations`."""
        return await self._service.relations(actor, viewer_id=viewer_id, other_ids=other_ids)

    async def hidden_author_ids(self, actor: Actor, viewer_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """See :meth:`UsersClient.hidden_author_ids`."""
        return await self._service.hidden_author_ids(actor, viewer_id=viewer_id)

    async def followee_ids(self, actor: Actor, user_id: uuid.UUID) -> list[uuid.UUID]:
        """See :meth:`UsersClient.followee_ids`."""
        return await self._service.followee_ids(actor, user_id=user_id)

    async def active_follower_ids(
        self,
        actor: Actor,
        author_id: uuid.UUID,
        *,
        active_since: dt.datetime,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[uuid.UUID]:
        """See :meth:`UsersClient.active_follower_ids`."""
        return await self._service.active_follower_ids(
            actor, author_id=author_id, active_since=active_since, after=after, limit=limit
        )

    async def follower_count(self, actor: Actor, user_id: uuid.UUID) -> int:
        """See :meth:`UsersClient.follower_count`."""
        return await self._service.follower_count(actor, user_id=user_id)

    async def get_preferences(self, actor: Actor, user_id: uuid.UUID) -> Preferences:
        """See :meth:`UsersClient.get_preferences`."""
        return await self._service.get_preferences(actor, user_id=user_id)
