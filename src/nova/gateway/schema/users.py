"""Queries over people: ``viewer``, ``user``, followers, following, requests, search."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from nova.gateway import relay
from nova.gateway.cache_control import CacheControl, CacheScope
from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import field
from nova.gateway.schema._mutation import require_viewer
from nova.gateway.schema.types import PageInfo, User, UserConnection, UserEdge, clamp_first
from nova.platform import errors
from nova.users.domain import CommentAudience, FeedMode
from nova.users.domain import Preferences as DomainPreferences

if TYPE_CHECKING:
    from nova.users.domain import Page
    from nova.users.domain import User as DomainUser

__all__ = ["Preferences", "UserQueries", "Viewer", "user_connection"]

strawberry.enum(FeedMode, name="FeedMode", description="How the home feed is ordered.")
strawberry.enum(CommentAudience, name="CommentAudience", description="Who may comment.")

_PRIVATE = CacheControl(max_age=0, scope=CacheScope.PRIVATE)


@strawberry.type(directives=[_PRIVATE], description="The viewer's settings.")
class Preferences:
    feed_mode: FeedMode
    who_can_comment: CommentAudience
    show_sensitive_media: bool
    notify_on_follow: bool

    @classmethod
    def from_domain(cls, prefs: DomainPreferences) -> Preferences:
        """The GraphQL view of ``prefs``."""
        return cls(
            feed_mode=prefs.feed_mode,
            who_can_comment=prefs.who_can_comment,
            show_sensitive_media=prefs.show_sensitive_media,
            notify_on_follow=prefs.notify_on_follow,
        )


@strawberry.type(directives=[_PRIVATE], description="The signed-in user and their settings.")
class Viewer:
    user: User

    @field(description="The viewer's preferences, defaults filled in.")
    async def preferences(self, info: GatewayInfo) -> Preferences:
        prefs = await info.context.services.users.get_preferences(
            info.context.actor, self.user.user_id
        )
        return Preferences.from_domain(prefs)


async def user_connection(info: GatewayInfo, page: Page[DomainUser]) -> UserConnection:
    """A connection over a page of users (only the last edge carries a cursor)."""
    end = relay.encode_cursor(page.next_cursor) if page.next_cursor is not None else None
    last = len(page.items) - 1
    nodes = await hydrate.users(info, page.items)
    return UserConnection(
        edges=[
            UserEdge(node=node, cursor=end if i == last else None) for i, node in enumerate(nodes)
        ],
        page_info=PageInfo.of(page.next_cursor),
    )


@strawberry.type
class UserQueries:
    @field(directives=[_PRIVATE], description="The signed-in user; null if anonymous.")
    async def viewer(self, info: GatewayInfo) -> Viewer | None:
        user_id = info.context.actor.user_id
        if user_id is None:
            return None
        user = await hydrate.user(info, await info.context.loaders.users.load(user_id))
        return Viewer(user=user) if user is not None else None

    @field(
        directives=[CacheControl(max_age=60)], description="A user by username; null if unknown."
    )
    async def user(self, info: GatewayInfo, username: str) -> User | None:
        try:
            found = await info.context.services.users.get_by_username(
                info.context.actor, username=username
            )
        except errors.NotFoundError:
            return None
        return await hydrate.user(info, found)

    @field(directives=[CacheControl(max_age=60)], description="A user's followers.")
    async def followers(
        self, info: GatewayInfo, user_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> UserConnection:
        owner = relay.from_global_id(user_id, expected="User", field="userId")
        page = await info.context.services.users.list_followers(
            info.context.actor,
            user_id=owner,
            after=relay.decode_cursor(after),
            limit=clamp_first(first),
        )
        return await user_connection(info, page)

    @field(directives=[CacheControl(max_age=60)], description="Whom a user follows.")
    async def following(
        self, info: GatewayInfo, user_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> UserConnection:
        owner = relay.from_global_id(user_id, expected="User", field="userId")
        page = await info.context.services.users.list_following(
            info.context.actor,
            user_id=owner,
            after=relay.decode_cursor(after),
            limit=clamp_first(first),
        )
        return await user_connection(info, page)

    @field(directives=[_PRIVATE], description="Pending requests to follow the viewer.")
    async def follow_requests(
        self, info: GatewayInfo, first: int = 20, after: str | None = None
    ) -> UserConnection:
        require_viewer(info)
        page = await info.context.services.users.list_follow_requests(
            info.context.actor, after=relay.decode_cursor(after), limit=clamp_first(first)
        )
        return await user_connection(info, page)

    @field(directives=[CacheControl(max_age=30)], description="Users whose username starts so.")
    async def search_users(self, info: GatewayInfo, prefix: str, first: int = 10) -> list[User]:
        if not 1 <= first <= 50:
            raise errors.InvalidInputError("first must be between 1 and 50.", field="first")
        found = await info.context.services.users.search_users(
            info.context.actor, prefix=prefix, limit=first
        )
        return await hydrate.users(info, found)
