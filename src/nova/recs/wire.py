"""Recommendation values <-> protobuf messages (``nova.pb.recs_pb2``), used by both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.content.wire import post_from_pb, post_to_pb
from nova.pb import recs_pb2 as pb
from nova.recs.domain import Reason, RecommendedItem, RecsPage, RecsSource

if TYPE_CHECKING:
    from nova.content.domain import Post

__all__ = ["recs_page_from_pb", "recs_page_to_pb"]


def _reason_to_pb(reason: Reason) -> pb.Reason:
    return pb.Reason(
        sources=list(reason.sources),
        score=reason.score,
        parts=[pb.ScorePart(name=name, value=value) for name, value in reason.parts],
    )


def _reason_from_pb(message: pb.Reason) -> Reason:
    return Reason(
        sources=tuple(message.sources),
        score=message.score,
        parts=tuple((part.name, part.value) for part in message.parts),
    )


def recs_page_to_pb(page: RecsPage[Post]) -> pb.RecsPage:
    """The message of a recommended-feed page."""
    return pb.RecsPage(
        items=[
            pb.RecommendedItem(
                post=post_to_pb(item.post),
                reason=_reason_to_pb(item.reason) if item.reason is not None else None,
            )
            for item in page.items
        ],
        next_cursor=page.next_cursor,
        source=str(page.source),
    )


def recs_page_from_pb(message: pb.RecsPage) -> RecsPage[Post]:
    """The recommended-feed page in ``message``."""
    return RecsPage(
        items=[
            RecommendedItem(
                post=post_from_pb(item.post),
                reason=_reason_from_pb(item.reason) if item.HasField("reason") else None,
            )
            for item in message.items
        ],
        next_cursor=message.next_cursor if message.HasField("next_cursor") else None,
        source=RecsSource(message.source),
    )
