"""The recs client over gRPC: the same protocol as :class:`~nova.recs.client.RecsClient`.

The feed is a read, retried on ``UNAVAILABLE`` within the retry budget; a click is retried only
when it carries an idempotency key (the server then records it once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.pb import recs_pb2
from nova.recs.wire import recs_page_from_pb

if TYPE_CHECKING:
    import uuid

    from nova.content.domain import Post
    from nova.platform.context import Actor
    from nova.platform.rpc import RpcTarget
    from nova.recs.domain import RecsPage

__all__ = ["GrpcRecsClient"]


class GrpcRecsClient:
    """:class:`~nova.recs.client.RecsClient` over gRPC.

    Args:
        target: The recs service.
    """

    def __init__(self, target: RpcTarget) -> None:
        self.target = target

    async def recommended_feed(
        self, actor: Actor, *, first: int = 20, after: str | None = None
    ) -> RecsPage[Post]:
        """See :meth:`~nova.recs.client.RecsClient.recommended_feed`."""
        request = recs_pb2.RecommendedFeedRequest(after=after, first=first)
        reply = await self.target.call(
            "RecommendedFeed", request, recs_pb2.RecsPage, actor, idempotent=True
        )
        return recs_page_from_pb(reply)

    async def record_click(
        self, actor: Actor, *, post_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """See :meth:`~nova.recs.client.RecsClient.record_click`."""
        request = recs_pb2.RecordClickRequest(post_id=str(post_id), idempotency_key=idempotency_key)
        await self.target.call(
            "RecordClick",
            request,
            recs_pb2.RecordClickReply,
            actor,
            idempotent=idempotency_key is not None,
        )
