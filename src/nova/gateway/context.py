"""Per-request GraphQL context: who is asking, the service clients and the DataLoaders.

DataLoaders batch every lookup made while resolving one level of the response into one
backend call, so a page of 20 posts and a page of 50 cost the same number of calls and SQL
statements: one for the posts, one for their authors, one for the viewer's likes, one for the
viewer's relation to the authors.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader
from strawberry.types import Info

from nova.content.client import ContentClient
from nova.feed.client import FeedClient
from nova.gateway.cache_control import NO_STORE, CachePolicy
from nova.gateway.ports import UsersApi
from nova.platform.context import Actor
from nova.recs.client import RecsClient

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from nova.content.client import Post
    from nova.users.client import Relation, User

__all__ = ["GatewayContext", "GatewayInfo", "Loaders", "Services"]


@dataclasses.dataclass(frozen=True, slots=True)
class Services:
    """The service clients the gateway talks to (in-process or gRPC, same protocols).

    ``recs`` is optional: wirings without recommendations (the gRPC gateway, most tests) leave
    it unset and ``recommendedFeed`` serves the chronological home feed.
    """

    users: UsersApi
    content: ContentClient
    feed: FeedClient
    recs: RecsClient | None = None


class Loaders:
    """The DataLoaders of one request (never shared: they cache per viewer).

    Args:
        services: The service clients.
        actor: The caller; every batch runs as this actor.
        batching: False makes every key its own backend call (``NOVA_GRAPHQL_DATALOADERS=off``,
            the benchmark baseline).
    """

    def __init__(self, services: Services, actor: Actor, *, batching: bool = True) -> None:
        self._services = services
        self._actor = actor
        size = None if batching else 1
        self.users: DataLoader[uuid.UUID, User | None] = DataLoader(
            self._load_users, max_batch_size=size
        )
        self.posts: DataLoader[uuid.UUID, Post | None] = DataLoader(
            self._load_posts, max_batch_size=size
        )
        self.liked: DataLoader[uuid.UUID, bool] = DataLoader(self._load_liked, max_batch_size=size)
        self.relations: DataLoader[uuid.UUID, Relation | None] = DataLoader(
            self._load_relations, max_batch_size=size
        )

    async def _load_users(self, ids: Sequence[uuid.UUID]) -> list[User | None]:
        found = await self._services.users.get_users(self._actor, list(ids))
        return [found.get(i) for i in ids]

    async def _load_posts(self, ids: Sequence[uuid.UUID]) -> list[Post | None]:
        found = await self._services.content.get_posts(self._actor, list(ids))
        return [found.get(i) for i in ids]

    async def _load_liked(self, ids: Sequence[uuid.UUID]) -> list[bool]:
        if self._actor.user_id is None:
            return [False] * len(ids)
        liked = await self._services.content.liked_by_viewer(self._actor, list(ids))
        return [i in liked for i in ids]

    async def _load_relations(self, ids: Sequence[uuid.UUID]) -> list[Relation | None]:
        viewer = self._actor.user_id
        if viewer is None:
            return [None] * len(ids)
        found = await self._services.users.relations(
            self._actor, viewer_id=viewer, other_ids=list(ids)
        )
        return [found.get(i) for i in ids]


@dataclasses.dataclass(slots=True)
class GatewayContext:
    """What every resolver receives as ``info.context``.

    Attributes:
        actor: The caller (anonymous when no token was sent).
        services: The service clients.
        loaders: This request's DataLoaders.
        cache_policy: Set by the cache-policy extension once the document is validated.
        operation_type: ``query`` or ``mutation``, set with the policy.
    """

    actor: Actor
    services: Services
    loaders: Loaders
    cache_policy: CachePolicy = NO_STORE
    operation_type: str = "query"

    @classmethod
    def build(
        cls,
        actor: Actor,
        services: Services,
        *,
        batching: bool = True,
    ) -> GatewayContext:
        """A fresh context (and fresh loaders) for one operation."""
        return cls(
            actor=actor,
            services=services,
            loaders=Loaders(services, actor, batching=batching),
        )


#: The ``info`` type of every resolver.
GatewayInfo = Info[GatewayContext, None]
