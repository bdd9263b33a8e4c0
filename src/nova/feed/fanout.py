"""Fan-out: outbox event handlers that keep home timelines in step with posts and the graph.

=================  =============================================================================
event              effect on timelines
=================  =============================================================================
PostPublished      the author's own timeline; unless private and unless the author has more than
                   ``fanout_follower_threshold`` followers (those are pulled at read time), every
                   follower active within ``active_window_days``, paged ~1,000 at a time, one
                   pipelined Redis round trip per page
PostDeleted        the id leaves the same timelines (read-time filtering already hides it)
Unfollowed         the followee's recent posts leave the follower's timeline
Blocked            each user's recent posts leave the other's timeline
=================  =============================================================================

Why only *active* followers: a timeline is a cache of what a reader will ask for soon. Pushing to
users who have not been seen for weeks costs memory and fan-out time for nothing; when they come
back, their timeline lacks the *complete* marker and is rebuilt from PostgreSQL on the first read.
Pushes create a follower's timeline if needed (the rebuild then merges it), so a follower who
reads while the fan-out is running never misses the post. This relies on readers being marked
active: the gateway calls the users service's ``touch_last_active`` on authenticated requests.

Handlers are idempotent (ZADD/ZREM), as at-least-once delivery requires, and let Redis errors
propagate so the worker retries the batch rather than losing the push. Read-time filtering of
blocks, mutes and deletions makes every removal here a clean-up, never the guarantee.

Example:
    >>> worker = OutboxWorker(db, fanout.handlers(fan_out))                # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

from nova.feed import store
from nova.platform.context import Actor
from nova.platform.events import Consumer, plain

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.feed.timeline import Timeline
    from nova.platform.config import Settings
    from nova.platform.db import Database
    from nova.platform.events import Handler, StoredEvent
    from nova.users.client import UsersClient

__all__ = ["FanOut", "consumer", "handlers"]

logger = logging.getLogger(__name__)

#: Followers read and pushed per round trip.
BATCH_SIZE = 1_000


class FanOut:
    """Keeps timelines in step with posts, follows and blocks.

    Args:
        db: The database (to list an author's recent posts).
        users: Follower counts and active followers.
        timeline: The Redis timelines.
        settings: Threshold and activity window.
        batch_size: Followers per page and per Redis pipeline.
    """

    def __init__(
        self,
        *,
        db: Database,
        users: UsersClient,
        timeline: Timeline,
        settings: Settings,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._db = db
        self._users = users
        self._timeline = timeline
        self._threshold = settings.fanout_follower_threshold
        self._window = dt.timedelta(days=settings.active_window_days)
        self._batch_size = batch_size

    async def on_post_published(self, event: StoredEvent) -> None:
        """Push a new post to its author's and active followers' timelines."""
        post_id = uuid.UUID(event.payload["post_id"])
        author_id = uuid.UUID(event.payload["author_id"])
        await self._timeline.push(post_id, [author_id])
        if event.payload.get("visibility") == "private":
            return
        # Each page's Redis push overlaps with reading the next page of followers; at most
        # threshold / batch_size (10 by default) pushes are in flight.
        async with asyncio.TaskGroup() as group:
            async for followers in self._audience(event, author_id):
                group.create_task(self._timeline.push(post_id, followers))

    async def on_post_deleted(self, event: StoredEvent) -> None:
        """Take a deleted post out of the timelines it was pushed to."""
        post_id = uuid.UUID(event.payload["post_id"])
        author_id = uuid.UUID(event.payload["author_id"])
        await self._timeline.remove([post_id], [author_id])
        async for followers in self._audience(event, author_id):
            await self._timeline.remove([post_id], followers)

    async def on_unfollowed(self, event: StoredEvent) -> None:
        """Take the former followee's posts out of the follower's timeline."""
        follower = uuid.UUID(event.payload["user_id"])
        followee = uuid.UUID(event.payload["followee_id"])
        await self._drop_author(author_id=followee, from_user=follower)

    async def on_blocked(self, event: StoredEvent) -> None:
        """Take each user's posts out of the other's timeline."""
        blocker = uuid.UUID(event.payload["user_id"])
        blocked = uuid.UUID(event.payload["blocked_id"])
        await self._drop_author(author_id=blocked, from_user=blocker)
        await self._drop_author(author_id=blocker, from_user=blocked)

    async def _drop_author(self, *, author_id: uuid.UUID, from_user: uuid.UUID) -> None:
        post_ids = await self._db.run_read(
            store.author_recent_post_ids, author_id=author_id, limit=self._timeline.cap
        )
        await self._timeline.remove(post_ids, [from_user])

    async def _audience(
        self, event: StoredEvent, author_id: uuid.UUID
    ) -> AsyncIterator[list[uuid.UUID]]:
        """Pages of the author's active followers, or nothing above the threshold."""
        actor = Actor(
            tenant_id=event.tenant_id, correlation_id=event.correlation_id or event.event_id.hex
        )
        if await self._users.follower_count(actor, author_id) > self._threshold:
            return
        since = dt.datetime.now(dt.UTC) - self._window
        after: uuid.UUID | None = None
        while True:
            page = await self._users.active_follower_ids(
                actor, author_id, active_since=since, after=after, limit=self._batch_size
            )
            if page:
                yield page
            if len(page) < self._batch_size:
                return
            after = page[-1]


def handlers(fan_out: FanOut) -> dict[str, list[Handler]]:
    """The outbox handlers of the feed, by event type, for :class:`OutboxWorker`."""
    return {
        "PostPublished": [fan_out.on_post_published],
        "PostDeleted": [fan_out.on_post_deleted],
        "Unfollowed": [fan_out.on_unfollowed],
        "Blocked": [fan_out.on_blocked],
    }


def consumer(fan_out: FanOut) -> Consumer:
    """The fan-out as an event-log consumer (``feed.fanout``).

    Fenced on posts: a ``PostPublished`` redelivered after its ``PostDeleted`` must not push the
    post back into timelines.
    """
    table = {t: [plain(h) for h in hs] for t, hs in handlers(fan_out).items()}
    return Consumer(name="feed.fanout", handlers=table, fenced=frozenset({"post"}))
