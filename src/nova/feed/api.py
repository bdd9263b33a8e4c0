"""The feed gRPC servicer: parse the message, call one use case, return its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.content.wire import post_page_to_pb
from nova.feed.wire import feed_page_to_pb
from nova.pb import content_pb2, feed_pb2
from nova.platform.rpc import Method, ServiceDef
from nova.platform.rpc.wire import uid

if TYPE_CHECKING:
    from nova.feed.client import FeedClient
    from nova.platform.context import Actor

__all__ = ["SERVICE_NAME", "service_def"]

#: Full gRPC name of the feed service.
SERVICE_NAME = feed_pb2.DESCRIPTOR.services_by_name["FeedService"].full_name


class _Servicer:
    """One handler per RPC, each calling one use case of the feed service."""

    def __init__(self, svc: FeedClient) -> None:
        self._svc = svc

    async def home_feed(self, actor: Actor, req: feed_pb2.HomeFeedRequest) -> feed_pb2.FeedPage:
        after = req.after if req.HasField("after") else None
        return feed_page_to_pb(await self._svc.home_feed(actor, after=after, limit=req.limit))

    async def user_timeline(
        self, actor: Actor, req: feed_pb2.UserTimelineRequest
    ) -> content_pb2.PostPage:
        page = await self._svc.user_timeline(
            actor,
            uid(req.author_id, field="authorId"),
            after=req.after if req.HasField("after") else None,
            limit=req.limit,
        )
        return post_page_to_pb(page)


def service_def(svc: FeedClient) -> ServiceDef:
    """The feed RPCs, each calling one use case of ``svc``."""
    servicer = _Servicer(svc)
    return ServiceDef(
        SERVICE_NAME,
        [
            Method("HomeFeed", feed_pb2.HomeFeedRequest, servicer.home_feed),
            Method("UserTimeline", feed_pb2.UserTimelineRequest, servicer.user_timeline),
        ],
    )
