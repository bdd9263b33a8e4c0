"""The recs gRPC servicer: parse the message, call one use case, return its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.pb import recs_pb2
from nova.platform.rpc import Method, ServiceDef
from nova.platform.rpc.wire import uid
from nova.recs.wire import recs_page_to_pb

if TYPE_CHECKING:
    from nova.platform.context import Actor
    from nova.recs.client import RecsClient

__all__ = ["SERVICE_NAME", "service_def"]

#: Full gRPC name of the recs service.
SERVICE_NAME = recs_pb2.DESCRIPTOR.services_by_name["RecsService"].full_name


class _Servicer:
    """One handler per RPC, each calling one use case of the recs service."""

    def __init__(self, svc: RecsClient) -> None:
        self._svc = svc

    async def recommended_feed(
        self, actor: Actor, req: recs_pb2.RecommendedFeedRequest
    ) -> recs_pb2.RecsPage:
        after = req.after if req.HasField("after") else None
        page = await self._svc.recommended_feed(actor, first=req.first, after=after)
        return recs_page_to_pb(page)

    async def record_click(
        self, actor: Actor, req: recs_pb2.RecordClickRequest
    ) -> recs_pb2.RecordClickReply:
        await self._svc.record_click(
            actor,
            post_id=uid(req.post_id, field="postId"),
            idempotency_key=req.idempotency_key if req.HasField("idempotency_key") else None,
        )
        return recs_pb2.RecordClickReply()


def service_def(svc: RecsClient) -> ServiceDef:
    """The recs RPCs, each calling one use case of ``svc``."""
    servicer = _Servicer(svc)
    return ServiceDef(
        SERVICE_NAME,
        [
            Method("RecommendedFeed", recs_pb2.RecommendedFeedRequest, servicer.recommended_feed),
            Method("RecordClick", recs_pb2.RecordClickRequest, servicer.record_click),
        ],
    )
