"""Home feed: Redis timelines filled by fan-out, merged with pulled posts, rebuilt when cold.

Other services use :class:`FeedClient` (in-process: :class:`LocalFeedClient`); the outbox
worker gets the fan-out handlers from :func:`nova.feed.fanout.handlers`.
"""

from nova.feed.client import FeedClient, LocalFeedClient, build_timeline
from nova.feed.domain import FeedPage, FeedSource
from nova.feed.fanout import FanOut, handlers
from nova.feed.service import FeedService
from nova.feed.timeline import Timeline

__all__ = [
    "FanOut",
    "FeedClient",
    "FeedPage",
    "FeedService",
    "FeedSource",
    "LocalFeedClient",
    "Timeline",
    "build_timeline",
    "handlers",
]
