"""Queries over content: ``post``, ``userPosts``, ``comments``, ``node``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from nova.content.client import encode_cursor
from nova.gateway import relay
from nova.gateway.cache_control import CacheControl
from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import field
from nova.gateway.schema.types import (
    CommentConnection,
    CommentEdge,
    Node,
    PageInfo,
    Post,
    PostConnection,
    PostEdge,
    clamp_first,
)
from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.content.client import Post as DomainPost

__all__ = ["PostQueries", "post_connection"]


async def post_connection(
    info: GatewayInfo, posts: Sequence[DomainPost], next_cursor: str | None
) -> PostConnection:
    """A connection over a page of posts; every edge's cursor resumes after it."""
    nodes = await hydrate.posts(info, posts)
    return PostConnection(
        edges=[
            PostEdge(node=node, cursor=relay.encode_cursor(encode_cursor(node.post_id)))
            for node in nodes
        ],
        page_info=PageInfo.of(next_cursor),
    )


@strawberry.type
class PostQueries:
    @field(
        directives=[CacheControl(max_age=30)],
        description="A post by global id; null when it does not exist or is not visible.",
    )
    async def post(
        self, info: GatewayInfo, id: strawberry.ID
    ) -> Post | None:  # GraphQL argument name
        post_id = relay.from_global_id(id, expected="Post")
        return await hydrate.post(info, await info.context.loaders.posts.load(post_id))

    @field(
        directives=[CacheControl(max_age=30)],
        description="Any node by global id (Relay refetching).",
    )
    async def node(
        self, info: GatewayInfo, id: strawberry.ID
    ) -> Node | None:  # GraphQL argument name
        type_name, value = relay.parse_global_id(id)
        if type_name == "Post":
            return await hydrate.post(info, await info.context.loaders.posts.load(value))
        if type_name == "User":
            return await hydrate.user(info, await info.context.loaders.users.load(value))
        raise errors.InvalidInputError(f"{type_name} nodes cannot be fetched by id.", field="id")

    @field(
        directives=[CacheControl(max_age=30)],
        description="A user's posts, newest first, as the viewer may see them.",
    )
    async def user_posts(
        self, info: GatewayInfo, user_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> PostConnection:
        author = relay.from_global_id(user_id, expected="User", field="userId")
        page = await info.context.services.content.list_user_posts(
            info.context.actor, author, after=relay.decode_cursor(after), limit=clamp_first(first)
        )
        return await post_connection(info, page.items, page.next_cursor)

    @field(directives=[CacheControl(max_age=30)], description="A post's comments, oldest first.")
    async def comments(
        self, info: GatewayInfo, post_id: strawberry.ID, first: int = 20, after: str | None = None
    ) -> CommentConnection:
        target = relay.from_global_id(post_id, expected="Post", field="postId")
        page = await info.context.services.content.list_comments(
            info.context.actor, target, after=relay.decode_cursor(after), limit=clamp_first(first)
        )
        nodes = await hydrate.comments(info, page.items)
        return CommentConnection(
            edges=[
                CommentEdge(node=node, cursor=relay.encode_cursor(encode_cursor(node.comment_id)))
                for node in nodes
            ],
            page_info=PageInfo.of(page.next_cursor),
        )
