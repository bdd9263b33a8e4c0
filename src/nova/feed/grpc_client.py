"""The feed client over gRPC: the same protocol as :class:`~nova.feed.client.FeedClient`.

Both calls are reads, so both are retried on ``UNAVAILABLE`` within the retry budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.content.wire import post_page_from_pb
from nova.feed.wire import feed_page_from_pb
from nova.pb import content_pb2, feed_pb2

if TYPE_CHECKING:
    import uuid

    from nova.content.domain import Page, Post
    from nova.feed.domain import FeedPage
    from nova.platform.context import Actor
    from nova.platform.rpc import RpcTarget

__all__ = ["GrpcFeedClient"]


class GrpcFeedClient:
    """:class:`~nova.feed.client.FeedClient` over gRPC.

    Args:
        target: The feed service.
    """

    def __init__(self, target: RpcTarget) -> None:
        self.target = target

    async def home_feed(
        self, actor: Actor, *, after: str | None = None, limit: int = 20
    ) -> FeedPage[Post]:
        """See :meth:`~nova.feed.client.FeedClient.home_feed`."""
        request = feed_pb2.HomeFeedRequest(after=after, limit=limit)
        reply = await self.target.call(
            "HomeFeed", request, feed_pb2.FeedPage, actor, idempotent=True
        )
        return feed_page_from_pb(reply)

    async def user_timeline(
        self, actor: Actor, author_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Post]:
        """See :meth:`~nova.feed.client.FeedClient.user_timeline`."""
        request = feed_pb2.UserTimelineRequest(author_id=str(author_id), after=after, limit=limit)
        reply = await self.target.call(
            "UserTimeline", request, content_pb2.PostPage, actor, idempotent=True
        )
        return post_page_from_pb(reply)
