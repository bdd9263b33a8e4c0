"""Feed values <-> protobuf messages (``nova.pb.feed_pb2``), used by both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.content.wire import post_from_pb, post_to_pb
from nova.feed.domain import FeedPage, FeedSource
from nova.pb import feed_pb2 as pb

if TYPE_CHECKING:
    from nova.content.domain import Post

__all__ = ["feed_page_from_pb", "feed_page_to_pb"]


def feed_page_to_pb(page: FeedPage[Post]) -> pb.FeedPage:
    """The message of a home-feed page."""
    return pb.FeedPage(
        items=[post_to_pb(p) for p in page.items],
        next_cursor=page.next_cursor,
        partial=page.partial,
        source=str(page.source),
    )


def feed_page_from_pb(message: pb.FeedPage) -> FeedPage[Post]:
    """The home-feed page in ``message``."""
    return FeedPage(
        items=[post_from_pb(p) for p in message.items],
        next_cursor=message.next_cursor if message.HasField("next_cursor") else None,
        partial=message.partial,
        source=FeedSource(message.source),
    )
