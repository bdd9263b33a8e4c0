"""The home feed: Redis timeline + pulled posts of high-follower authors, filtered and hydrated.

One page, in the normal case::

    users.hidden_author_ids, users.followee_ids, users.get_users   (who to read, who to hide)
    Redis: one pipelined read of the timeline
    PostgreSQL: one query for posts of followees above the fan-out threshold
    content.get_posts: one batch (visibility, deletion) -> filter hidden -> page

Blocks, mutes, unfollows, visibility and deletions are applied on every page, so they take effect at
once even for ids still sitting in a timeline. Pages over-fetch to stay full after filtering.
A timeline without its *complete* marker is rebuilt from PostgreSQL and the page says
``partial=True``; when Redis fails the page comes from PostgreSQL alone, also partial, never an
error.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import uuid
from typing import TYPE_CHECKING

from nova.content.client import decode_cursor, encode_cursor
from nova.feed import store
from nova.feed.domain import MAX_FEED_PAGE, FeedPage, FeedSource, merge_newest
from nova.platform import errors
from nova.platform.cache import REDIS_ERRORS

if TYPE_CHECKING:
    from nova.content.client import ContentClient, Page, Post
    from nova.feed.timeline import Timeline
    from nova.platform.config import Settings
    from nova.platform.context import Actor
    from nova.platform.db import Database
    from nova.users.client import UsersClient

__all__ = ["FeedService"]

logger = logging.getLogger(__name__)

#: Candidate rounds per page before returning a short page with a cursor to continue.
_MAX_ROUNDS = 4


@dataclasses.dataclass(frozen=True, slots=True)
class _Audience:
    """Whose posts a viewer's feed holds, split by how they reach it."""

    viewer_id: uuid.UUID
    hidden: frozenset[uuid.UUID]
    pushed: list[uuid.UUID]  # fanned out to the timeline (includes the viewer)
    pulled: list[uuid.UUID]  # above the threshold: read from PostgreSQL at read time
    # Who may appear at all: an unfollow or block hides ids still in the timeline at once.
    authors: frozenset[uuid.UUID]


@dataclasses.dataclass(slots=True)
class _Round:
    ids: list[uuid.UUID]
    more: bool


class FeedService:
    """Home and user timelines.

    Args:
        db: The database (read intent).
        timeline: The Redis timelines.
        users: How the feed reaches the users service.
        content: How the feed hydrates posts.
        settings: Fan-out threshold and timeline cap.
    """

    def __init__(
        self,
        *,
        db: Database,
        timeline: Timeline,
        users: UsersClient,
        content: ContentClient,
        settings: Settings,
    ) -> None:
        self._db = db
        self._timeline = timeline
        self._users = users
        self._content = content
        self._threshold = settings.fanout_follower_threshold
        # Off (the benchmark baseline) pulls every page from PostgreSQL, as without Redis.
        self._timelines = settings.optimizations and settings.feed_timelines
        #: Pages served per :class:`FeedSource` value (exported as metrics).
        self.reads: collections.Counter[str] = collections.Counter()

    @property
    def db(self) -> Database:
        """The database this service reads (its statement counter is exported as a metric)."""
        return self._db

    async def home_feed(
        self, actor: Actor, *, after: str | None = None, limit: int = 20
    ) -> FeedPage[Post]:
        """The viewer's home feed, newest first.

        Args:
            actor: The viewer (must be signed in).
            after: ``next_cursor`` of the previous page.
            limit: Posts per page, 1 to 50.

        Raises:
            errors.UnauthenticatedError: anonymous actor.
            errors.InvalidInputError: bad cursor or limit.
        """
        if actor.user_id is None:
            raise errors.UnauthenticatedError("Sign in to see your home feed.")
        before = decode_cursor(after)
        if not 1 <= limit <= MAX_FEED_PAGE:
            raise errors.InvalidInputError(
                f"limit must be between 1 and {MAX_FEED_PAGE} (got {limit}).", field="limit"
            )
        audience = await self._audience(actor, actor.user_id)
        try:
            source = await self._warm(audience) if self._timelines else FeedSource.DATABASE
        except REDIS_ERRORS as exc:
            logger.warning(
                "timeline unavailable; serving the feed from PostgreSQL",
                extra={"error.type": type(exc).__name__},
            )
            source = FeedSource.DATABASE
        self.reads[source.value] += 1
        try:
            return await self._page(actor, audience, source=source, before=before, limit=limit)
        except REDIS_ERRORS as exc:
            logger.warning(
                "timeline failed mid-page; serving from PostgreSQL",
                extra={"error.type": type(exc).__name__},
            )
            return await self._page(
                actor, audience, source=FeedSource.DATABASE, before=before, limit=limit
            )

    async def user_timeline(
        self, actor: Actor, author_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Post]:
        """One author's posts as the actor may see them (``content.list_user_posts``)."""
        return await self._content.list_user_posts(actor, author_id, after=after, limit=limit)

    async def _audience(self, actor: Actor, viewer_id: uuid.UUID) -> _Audience:
        hidden = await self._users.hidden_author_ids(actor, viewer_id)
        followees = [f for f in await self._users.followee_ids(actor, viewer_id) if f not in hidden]
        profiles = await self._users.get_users(actor, followees) if followees else {}
        pulled = [
            f for f in followees if f in profiles and profiles[f].follower_count > self._threshold
        ]
        pulled_set = set(pulled)
        pushed = [viewer_id, *(f for f in followees if f not in pulled_set)]
        return _Audience(
            viewer_id=viewer_id,
            hidden=hidden,
            pushed=pushed,
            pulled=pulled,
            authors=frozenset(pushed) | pulled_set,
        )

    async def _warm(self, audience: _Audience) -> FeedSource:
        """Make sure the viewer's timeline is complete; rebuild it from PostgreSQL if not."""
        probe = await self._timeline.read(audience.viewer_id, before=None, count=1)
        if probe.complete:
            return FeedSource.TIMELINE
        refs = await self._db.run_read(
            store.recent_posts,
            author_ids=audience.pushed,
            viewer_id=audience.viewer_id,
            before=None,
            limit=self._timeline.cap,
        )
        await self._timeline.fill(audience.viewer_id, [r.id for r in refs])
        return FeedSource.REBUILT

    async def _page(
        self,
        actor: Actor,
        audience: _Audience,
        *,
        source: FeedSource,
        before: uuid.UUID | None,
        limit: int,
    ) -> FeedPage[Post]:
        items: list[Post] = []
        cursor = before
        more = True
        # Over-fetch: filtering drops hidden, deleted and invisible posts from a round.
        want = min(limit * 2 + 5, 200)
        for _ in range(_MAX_ROUNDS):
            candidates = await self._candidates(audience, source=source, before=cursor, n=want)
            more = candidates.more
            if not candidates.ids:
                break
            posts = await self._content.get_posts(actor, candidates.ids)
            for post_id in candidates.ids:
                post = posts.get(post_id)
                cursor = post_id
                if post is not None and post.author_id in audience.authors:
                    items.append(post)
                    if len(items) == limit:
                        break
            if len(items) == limit or not more:
                break
        next_cursor = encode_cursor(cursor) if cursor is not None and more else None
        if len(items) == limit:
            next_cursor = encode_cursor(items[-1].id)
        return FeedPage(
            items=items,
            next_cursor=next_cursor,
            partial=source is not FeedSource.TIMELINE,
            source=source,
        )

    async def _candidates(
        self, audience: _Audience, *, source: FeedSource, before: uuid.UUID | None, n: int
    ) -> _Round:
        """The next ``n`` candidate ids below ``before``, and whether any source has more."""
        viewer = audience.viewer_id
        if source is FeedSource.DATABASE:
            refs = await self._db.run_read(
                store.recent_posts,
                author_ids=[*audience.pushed, *audience.pulled],
                viewer_id=viewer,
                before=before,
                limit=n,
            )
            return _Round(ids=[r.id for r in refs], more=len(refs) == n)
        slice_ = await self._timeline.read(viewer, before=before, count=n)
        timeline_ids = slice_.post_ids
        tail: list[store.PostRef] = []
        pulled: list[store.PostRef] = []
        if audience.pulled:
            pulled = await self._db.run_read(
                store.recent_posts,
                author_ids=audience.pulled,
                viewer_id=viewer,
                before=before,
                limit=n,
            )
        if slice_.exhausted and slice_.size >= self._timeline.cap:
            # Paging past the capped timeline: older posts live only in PostgreSQL.
            floor = timeline_ids[-1] if timeline_ids else before
            tail = await self._db.run_read(
                store.recent_posts,
                author_ids=audience.pushed,
                viewer_id=viewer,
                before=floor,
                limit=n,
            )
        union = {*timeline_ids, *(r.id for r in tail), *(r.id for r in pulled)}
        ids = merge_newest(union, limit=n)
        more = not slice_.exhausted or len(tail) == n or len(pulled) == n or len(union) > n
        return _Round(ids=ids, more=more)
