"""Content: posts, comments and likes, with visibility and block rules.

Other services use :class:`ContentClient` (in-process: :class:`LocalContentClient`); the
event types this service writes to the outbox are listed in :class:`ContentEvent`.
"""

from nova.content.client import ContentClient, LocalContentClient
from nova.content.domain import (
    Comment,
    ContentEvent,
    LikeState,
    Page,
    Post,
    Visibility,
    decode_cursor,
    encode_cursor,
)
from nova.content.engagement import Engagement
from nova.content.service import ContentService

__all__ = [
    "Comment",
    "ContentClient",
    "ContentEvent",
    "ContentService",
    "Engagement",
    "LikeState",
    "LocalContentClient",
    "Page",
    "Post",
    "Visibility",
    "decode_cursor",
    "encode_cursor",
]
