"""The interface other services use to reach recommendations: ``RecsClient``.

Example:
    >>> recs = LocalRecsClient.build(                                      # doctest: +SKIP
    ...     clickhouse=ch, redis=redis, db=db, users=users, content=content, feed=feed,
    ...     settings=settings)
    >>> page = await recs.recommended_feed(actor, first=20)                 # doctest: +SKIP
    >>> page.source                                                         # doctest: +SKIP
    <RecsSource.RECOMMENDED: 'RECOMMENDED'>
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nova.recs.domain import Reason, RecommendedItem, RecsPage, RecsSource
from nova.recs.service import RecsService

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from nova.content.client import ContentClient, Post
    from nova.feed.client import FeedClient
    from nova.platform.analytics import ClickHouse
    from nova.platform.config import Settings
    from nova.platform.context import Actor
    from nova.platform.db import Database
    from nova.users.client import UsersClient

__all__ = [
    "LocalRecsClient",
    "Reason",
    "RecommendedItem",
    "RecsClient",
    "RecsJobs",
    "RecsPage",
    "RecsSource",
]


class RecsClient(Protocol):
    """What the gateway may ask of recommendations (in process, or over gRPC)."""

    async def recommended_feed(
        self, actor: Actor, *, first: int = 20, after: str | None = None
    ) -> RecsPage[Post]:
        """A page of the viewer's recommended feed; never fails because ClickHouse does."""
        ...

    async def record_click(
        self, actor: Actor, *, post_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Record that the viewer opened ``post_id`` from the feed (an outbox event)."""
        ...


class RecsJobs(Protocol):
    """The precompute job's use cases; they run where ClickHouse is (never over gRPC)."""

    async def active_tenants(self, *, days: float = 1.0, limit: int = 10_000) -> list[str]:
        """Tenants with recent engagement, busiest first (the schedule's tenants)."""
        ...

    async def precompute_active(
        self,
        user_ids: Sequence[uuid.UUID],
        *,
        tenant_id: str,
        concurrency: int | None = None,
        jitter: float | None = None,
    ) -> tuple[int, int]:
        """Precompute lists for ``user_ids``; ``(stored, failed)``."""
        ...

    async def active_users(
        self, tenant_id: str, *, days: float = 1.0, limit: int = 100_000
    ) -> list[uuid.UUID]:
        """Users who engaged recently (the precompute job's audience)."""
        ...


class LocalRecsClient:
    """In-process :class:`RecsClient` and :class:`RecsJobs`.

    Args:
        service: The recommendation use cases.
    """

    def __init__(self, service: RecsService) -> None:
        self.service = service
        self.recommended_feed = service.recommended_feed
        self.record_click = service.record_click
        self.precompute_active = service.precompute_active
        self.active_users = service.active_users
        self.active_tenants = service.active_tenants

    @classmethod
    def build(
        cls,
        *,
        clickhouse: ClickHouse,
        redis: aioredis.Redis,
        db: Database,
        users: UsersClient,
        content: ContentClient,
        feed: FeedClient,
        settings: Settings,
    ) -> LocalRecsClient:
        """Wire recommendations over their dependencies."""
        return cls(
            RecsService(
                clickhouse=clickhouse,
                redis=redis,
                db=db,
                users=users,
                content=content,
                feed=feed,
                settings=settings,
            )
        )
