"""The interface other services use to reach the feed: ``FeedClient``.

Example:
    >>> feed = LocalFeedClient.build(db=db, redis=redis, users=users,
    ...                              content=content, settings=settings)  # doctest: +SKIP
    >>> page = await feed.home_feed(actor, limit=20)                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nova.feed.domain import FeedPage, FeedSource
from nova.feed.service import FeedService
from nova.feed.timeline import Timeline

if TYPE_CHECKING:
    import uuid

    import redis.asyncio as aioredis

    from nova.content.client import ContentClient, Page, Post
    from nova.platform.config import Settings
    from nova.platform.context import Actor
    from nova.platform.db import Database
    from nova.users.client import UsersClient

__all__ = ["FeedClient", "FeedPage", "FeedSource", "LocalFeedClient", "build_timeline"]


class FeedClient(Protocol):
    """What the gateway may ask of the feed."""

    async def home_feed(
        self, actor: Actor, *, after: str | None = None, limit: int = 20
    ) -> FeedPage[Post]:
        """The viewer's home feed, newest first; ``partial`` when rebuilt or without Redis."""
        ...

    async def user_timeline(
        self, actor: Actor, author_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Post]:
        """One author's posts as the actor may see them."""
        ...


def build_timeline(redis: aioredis.Redis, settings: Settings) -> Timeline:
    """The Redis timelines configured by ``settings`` (prefix, cap, TTL).

    The TTL is an hour shorter than the activity window, so a timeline expires before fan-out
    stops pushing to its owner (``last_active_at`` has minute resolution).
    """
    return Timeline(
        redis,
        prefix=settings.redis_key_prefix,
        cap=settings.timeline_cap,
        ttl=settings.active_window_days * 86_400 - 3_600,
    )


class LocalFeedClient:
    """In-process :class:`FeedClient`.

    Args:
        service: The feed use cases.
    """

    def __init__(self, service: FeedService) -> None:
        self.service = service
        self.home_feed = service.home_feed
        self.user_timeline = service.user_timeline

    @classmethod
    def build(
        cls,
        *,
        db: Database,
        redis: aioredis.Redis,
        users: UsersClient,
        content: ContentClient,
        settings: Settings,
    ) -> LocalFeedClient:
        """Wire the feed over its dependencies."""
        timeline = build_timeline(redis, settings)
        return cls(
            FeedService(db=db, timeline=timeline, users=users, content=content, settings=settings)
        )
