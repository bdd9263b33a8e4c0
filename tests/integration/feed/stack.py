"""The content + feed stack over the real users service, for integration tests."""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from nova.content import LocalContentClient
from nova.feed import FanOut, LocalFeedClient, build_timeline, handlers
from nova.platform.cache import VersionedCache
from nova.platform.config import Settings
from nova.platform.context import Actor
from nova.platform.db import Database
from nova.platform.events import OutboxWorker
from nova.users.client import LocalUsersClient
from nova.users.service import UsersService

if TYPE_CHECKING:
    import uuid


TENANT = "default"
_names = itertools.count()


@dataclasses.dataclass
class Stack:
    """Every piece of the content and feed wiring, plus shortcuts to build a social graph."""

    db: Database
    redis: aioredis.Redis
    settings: Settings
    users_service: UsersService
    users: LocalUsersClient
    content: LocalContentClient
    feed: LocalFeedClient
    fan_out: FanOut
    worker: OutboxWorker

    async def user(self, name: str | None = None) -> Actor:
        """Register a user through the users service; the actor acting as them."""
        username = name or f"person_{next(_names)}"
        user = await self.users_service.register(
            Actor.anonymous(tenant_id=TENANT),
            username=username,
            email=f"{username}@example.com",
            password="correct horse battery staple",
        )
        actor = Actor.user(user.id, tenant_id=TENANT)
        # As the gateway does on every authenticated request: this user is active.
        await self.users_service.touch_last_active(actor)
        return actor

    async def follow(self, follower: Actor, followee: Actor) -> None:
        """``follower`` follows ``followee`` (approved: accounts are public)."""
        await self.users_service.follow(follower, target_id=uid(followee))

    async def block(self, blocker: Actor, blocked: Actor) -> None:
        """``blocker`` blocks ``blocked``."""
        await self.users_service.block(blocker, target_id=uid(blocked))

    async def drain(self) -> int:
        """Deliver every committed outbox event to the feed's handlers."""
        return await self.worker.drain()


def uid(actor: Actor) -> uuid.UUID:
    """The user id of a signed-in actor."""
    assert actor.user_id is not None
    return actor.user_id


def build_stack(
    *,
    db: Database,
    redis: aioredis.Redis,
    settings: Settings,
    feed_redis: aioredis.Redis | None = None,
) -> Stack:
    """Wire users, content and feed in-process, as ``nova up`` does.

    ``feed_redis`` lets a test give the feed a different (e.g. unreachable) Redis.
    """
    cache = VersionedCache(redis, prefix=settings.redis_key_prefix)
    users_service = UsersService(db, settings=settings, cache=cache)
    users = LocalUsersClient(users_service)
    content = LocalContentClient.build(db=db, users=users)
    timeline_redis = feed_redis or redis
    feed = LocalFeedClient.build(
        db=db, redis=timeline_redis, users=users, content=content, settings=settings
    )
    fan_out = FanOut(
        db=db, users=users, timeline=build_timeline(timeline_redis, settings), settings=settings
    )
    worker = OutboxWorker(db, handlers(fan_out))
    return Stack(
        db=db,
        redis=redis,
        settings=settings,
        users_service=users_service,
        users=users,
        content=content,
        feed=feed,
        fan_out=fan_out,
        worker=worker,
    )
