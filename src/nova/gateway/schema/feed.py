"""The home feed: personalized, so never cacheable (see docs/api.md)."""

from __future__ import annotations

import strawberry

from nova.content.client import encode_cursor
from nova.gateway import relay
from nova.gateway.cache_control import CacheControl, CacheScope
from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import field
from nova.gateway.schema._mutation import require_viewer
from nova.gateway.schema.types import PageInfo, PostEdge, clamp_first

__all__ = ["FeedConnection", "FeedQueries"]


@strawberry.type(
    directives=[CacheControl(max_age=0, scope=CacheScope.PRIVATE)],
    description="A page of the home feed.",
)
class FeedConnection:
    edges: list[PostEdge]
    page_info: PageInfo
    partial: bool = strawberry.field(
        description="True when the feed may be missing posts (rebuilt from the database)."
    )
    source: str = strawberry.field(description="Which path served the page.")


@strawberry.type
class FeedQueries:
    @field(
        directives=[CacheControl(max_age=0, scope=CacheScope.PRIVATE)],
        description=(
            "The viewer's home feed, newest first. Null (with an error) when the feed cannot"
            " be served, so the rest of the response still is."
        ),
    )
    async def home_feed(
        self, info: GatewayInfo, first: int = 20, after: str | None = None
    ) -> FeedConnection | None:
        require_viewer(info)
        ctx = info.context
        page = await ctx.services.feed.home_feed(
            ctx.actor, after=relay.decode_cursor(after), limit=clamp_first(first)
        )
        nodes = await hydrate.posts(info, page.items)
        return FeedConnection(
            edges=[
                PostEdge(node=node, cursor=relay.encode_cursor(encode_cursor(node.post_id)))
                for node in nodes
            ],
            page_info=PageInfo.of(page.next_cursor),
            partial=page.partial,
            source=str(page.source),
        )
