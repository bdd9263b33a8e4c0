"""Recommended feed: precompute ranked lists into Redis, serve pages, fall back to chronological.

A page, in the normal case::

    Redis GET of the viewer's precomputed list
    users.hidden_author_ids (a block made after the precompute applies at once)
    content.get_posts (visibility and deletion) -> page, with each item's reason
    one outbox row: RecommendationsServed (the page's impressions, for evaluation)

On a miss the list is computed once per user for all concurrent requests (singleflight), within
``recs_deadline_seconds``; identical concurrent ClickHouse queries also run once. If ClickHouse
fails, is slower than the deadline, or its circuit breaker is open, the viewer's chronological
home feed is served with ``source=CHRONOLOGICAL_FALLBACK`` and no error; so it is when Redis
cannot be read (a failure is not a miss: nothing is computed). Cursors say which path
they belong to (``r:<generation>:<offset>`` or ``c:<home-feed cursor>``), so a fallback page
continues as one; a recommended cursor into a list that was replaced since restarts at the top
of the new one (:class:`nova.recs._lists.Cursor`).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from nova.platform import errors, idempotency, resilience
from nova.platform.cache import REDIS_ERRORS
from nova.platform.context import Actor
from nova.platform.db import consistency
from nova.platform.events import outbox
from nova.recs import _lists
from nova.recs import events as recs_events
from nova.recs.domain import (
    MAX_RECS_PAGE,
    Exclusions,
    Ranked,
    RecommendedItem,
    RecsPage,
    RecsSource,
    Source,
    Weights,
    rank,
)
from nova.recs.store import (
    CandidateQuery,
    active_tenants_sql,
    active_users_sql,
    candidates_sql,
    parse_candidates,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis.asyncio as aioredis

    from nova.content.client import ContentClient, Post
    from nova.feed.client import FeedClient
    from nova.platform.analytics import ClickHouse
    from nova.platform.config import Settings
    from nova.platform.db import Database
    from nova.users.client import UsersClient

__all__ = ["RecsService", "list_key", "weights_from"]

logger = logging.getLogger(__name__)


def weights_from(settings: Settings) -> Weights:
    """The scoring weights configured by ``settings``."""
    return Weights(
        velocity=settings.recs_weight_velocity,
        affinity=settings.recs_weight_affinity,
        recency=settings.recs_weight_recency,
        engagement_half_life=settings.recs_engagement_half_life_hours * 3600.0,
        recency_half_life=settings.recs_recency_half_life_hours * 3600.0,
        sources=(
            (Source.FRIENDS_ENGAGED, settings.recs_weight_friends_engaged),
            (Source.TRENDING, settings.recs_weight_trending),
            (Source.AFFINITY, settings.recs_weight_author_affinity),
            (Source.FOLLOWED, settings.recs_weight_followed),
        ),
    )


def list_key(prefix: str, tenant_id: str, user_id: uuid.UUID | str) -> str:
    """The Redis key of a user's precomputed list (``prefix`` = ``redis_key_prefix``)."""
    return f"{prefix}recs:{tenant_id}:{user_id}"


class _CacheUnavailableError(Exception):
    """Redis could not be read (distinct from a miss)."""


def _cursor(after: str | None) -> _lists.Cursor | None:
    """The recommended-list cursor ``after`` (None: the first page).

    Raises:
        errors.InvalidInputError: not a cursor this service issued (``field="after"``).
    """
    if not after:
        return None
    try:
        return _lists.Cursor.parse(after)
    except ValueError as exc:
        raise errors.InvalidInputError(
            "The cursor is invalid; pass back the nextCursor of a previous page.", field="after"
        ) from exc


class RecsService:
    """Precompute and serve recommended feeds.

    Args:
        clickhouse: Where the candidates come from (the analytics sink's tables).
        redis: Where ranked lists are kept.
        db: Where impressions and clicks are recorded (outbox events).
        users: Followees and hidden authors.
        content: Likes of the viewer and hydration (visibility, deletion).
        feed: The chronological home feed, the fallback.
        settings: ``recs_*`` settings and the Redis key prefix.
        breaker: Guards ClickHouse; defaults to one that opens on failures and slow calls.
        clock: Wall clock for the candidates' ``now`` (tests pass a fixed one).
        rng: Jitter source of :meth:`precompute_active`.
    """

    def __init__(
        self,
        *,
        clickhouse: ClickHouse,
        redis: aioredis.Redis,
        db: Database,
        users: UsersClient,
        content: ContentClient,
        feed: FeedClient,
        settings: Settings,
        breaker: resilience.CircuitBreaker | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        rng: random.Random | None = None,
    ) -> None:
        self._ch = clickhouse
        self._redis = redis
        self._db = db
        self._users = users
        self._content = content
        self._feed = feed
        self._settings = settings
        self._weights = weights_from(settings)
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311  # jitter, not cryptography
        self.breaker = breaker or resilience.CircuitBreaker(
            "clickhouse-recs",
            resilience.BreakerPolicy(slow_call_seconds=settings.recs_deadline_seconds),
        )
        #: The precompute job's breaker: background passes run against their own, longer
        #: deadline, so their slow queries must not open the serving breaker (nor the
        #: serving breaker's state stop a pass). Bounded concurrency still spares ClickHouse.
        self.job_breaker = resilience.CircuitBreaker(
            "clickhouse-recs-jobs",
            resilience.BreakerPolicy(slow_call_seconds=settings.recs_precompute_deadline_seconds),
        )
        self._per_user: resilience.Singleflight[tuple[str, uuid.UUID], _lists.StoredList] = (
            resilience.Singleflight(name="recs.lists")
        )
        self._queries: resilience.Singleflight[str, list[list[Any]]] = resilience.Singleflight(
            name="recs.queries"
        )
        #: Pages served per source, lists computed, ClickHouse queries run (for metrics, bench).
        self.counts: collections.Counter[str] = collections.Counter()

    def key(self, tenant_id: str, user_id: uuid.UUID) -> str:
        """The Redis key of a user's precomputed list."""
        return list_key(self._settings.redis_key_prefix, tenant_id, user_id)

    # -- computing -----------------------------------------------------------------------------

    async def _query(self, sql: str, *, job: bool = False) -> list[list[Any]]:
        """Run ``sql`` through the breaker, once for identical concurrent texts.

        Args:
            sql: The candidate query.
            job: For the precompute job: its deadline and breaker, not the serving ones.
        """
        breaker = self.job_breaker if job else self.breaker
        seconds = (
            self._settings.recs_precompute_deadline_seconds
            if job
            else self._settings.recs_deadline_seconds
        )

        async def query() -> list[list[Any]]:
            # Counted here, once the breaker admits the call: a rejected call costs ClickHouse
            # nothing.
            self.counts["clickhouse_queries"] += 1
            budget = resilience.timeout(seconds)
            return await asyncio.wait_for(self._ch.query(sql), timeout=budget)

        async def run() -> list[list[Any]]:
            return await breaker.call(query)

        # A request never joins a job's query (nor the reverse): their deadlines differ.
        return await self._queries.do(f"job:{sql}" if job else sql, run)

    async def compute(self, actor: Actor, *, job: bool = False) -> list[Ranked]:
        """The viewer's ranked list, from ClickHouse candidates (nothing is stored).

        Posts the viewer was shown or clicked in the last ``recs_seen_lookback_hours`` are left
        out here, and only here: a list already stored keeps the posts its pages showed, so
        its cursors keep their offsets; a cursor into a replaced list restarts at the top of
        the new one, which lacks them (:class:`nova.recs._lists.Cursor`).

        Args:
            actor: The viewer.
            job: Computed by the precompute job (its deadline and breaker, see :meth:`_query`).

        Raises:
            errors.UnauthenticatedError: anonymous actor.
            Exception: whatever ClickHouse raised, TimeoutError, CircuitOpenError.
        """
        viewer = actor.user_id
        if viewer is None:
            raise errors.UnauthenticatedError("Sign in to see recommendations.")
        followees, hidden = await asyncio.gather(
            self._users.followee_ids(actor, viewer),
            self._users.hidden_author_ids(actor, viewer),
        )
        s = self._settings
        now = self._clock().replace(microsecond=0)  # same text within a second: coalesced
        sql = candidates_sql(
            CandidateQuery(
                tenant_id=actor.tenant_id,
                viewer_id=viewer,
                followee_ids=tuple(sorted(followees)),
                now=now,
                per_source=s.recs_candidates_per_source,
                lookback_seconds=s.recs_lookback_seconds,
                trending_seconds=s.recs_trending_window_seconds,
                # In the same query, not a second one: one ClickHouse call per compute,
                # coalesced like before, and a seen post frees its source's slot.
                seen_seconds=round(s.recs_seen_lookback_hours * 3600),
            )
        )
        candidates = parse_candidates(await self._query(sql, job=job))
        liked = await self._content.liked_by_viewer(actor, [c.post_id for c in candidates])
        exclusions = Exclusions(viewer_id=viewer, hidden_authors=hidden, post_ids=liked)
        self.counts["computed"] += 1
        # Ranking is CPU work: off the event loop (DESIGN.md invariant 11).
        return await asyncio.to_thread(
            rank,
            candidates,
            exclusions,
            self._weights,
            max_per_author=s.recs_max_per_author,
            window=s.recs_diversity_window,
            limit=s.recs_list_size,
        )

    async def precompute(self, actor: Actor) -> int:
        """Compute the viewer's list and store it in Redis (TTL ``recs_cache_ttl``); its length.

        Raises:
            Exception: ClickHouse or Redis failures (the job logs and moves on).
        """
        ranked = await self.compute(actor, job=True)
        await self._store(actor, _lists.dump(ranked))
        return len(ranked)

    async def _store(self, actor: Actor, raw: bytes) -> None:
        assert actor.user_id is not None  # noqa: S101  # compute() checked it
        await self._redis.set(
            self.key(actor.tenant_id, actor.user_id), raw, ex=self._settings.recs_cache_ttl
        )

    async def active_tenants(self, *, days: float = 1.0, limit: int = 10_000) -> list[str]:
        """Tenants whose users liked or commented in the last ``days``, busiest first."""
        since = self._clock() - dt.timedelta(days=days)
        rows = await self._ch.query(active_tenants_sql(since=since, limit=limit))
        return [str(value) for (value,) in rows if value]

    async def active_users(
        self, tenant_id: str, *, days: float = 1.0, limit: int = 100_000
    ) -> list[uuid.UUID]:
        """Users who liked or commented in the last ``days`` (from ClickHouse)."""
        since = self._clock() - dt.timedelta(days=days)
        rows = await self._ch.query(active_users_sql(tenant_id, since=since, limit=limit))
        out: list[uuid.UUID] = []
        for (value,) in rows:
            try:
                out.append(uuid.UUID(str(value)))
            except ValueError:
                continue
        return out

    async def precompute_active(
        self,
        user_ids: Sequence[uuid.UUID],
        *,
        tenant_id: str,
        concurrency: int | None = None,
        jitter: float | None = None,
    ) -> tuple[int, int]:
        """Precompute for ``user_ids``, bounded and spread out; failures are counted, not raised.

        At most ``concurrency`` users at once, each after a random delay of up to ``jitter``
        seconds (defaults: the ``recs_precompute_*`` settings).

        Returns:
            ``(stored, failed)``.
        """
        limit = concurrency or self._settings.recs_precompute_concurrency
        spread = self._settings.recs_precompute_jitter_seconds if jitter is None else jitter
        gate = asyncio.Semaphore(limit)
        outcome: collections.Counter[str] = collections.Counter()

        async def one(user_id: uuid.UUID) -> None:
            if spread > 0:
                await asyncio.sleep(self._rng.uniform(0, spread))
            async with gate:
                try:
                    await self.precompute(Actor.user(user_id, tenant_id=tenant_id))
                except Exception as exc:  # noqa: BLE001  # one user's failure must not stop the job
                    outcome["failed"] += 1
                    logger.warning(
                        "recommendation precompute failed",
                        extra={"error.type": type(exc).__name__},
                    )
                else:
                    outcome["stored"] += 1

        await asyncio.gather(*(one(u) for u in user_ids))
        return outcome["stored"], outcome["failed"]

    # -- serving -------------------------------------------------------------------------------

    async def _cached(self, actor: Actor, viewer: uuid.UUID) -> _lists.StoredList | None:
        """The stored list; None on a miss.

        Raises:
            _CacheUnavailableError: Redis failed or timed out.
        """
        try:
            raw = await self._redis.get(self.key(actor.tenant_id, viewer))
        except REDIS_ERRORS as exc:
            raise _CacheUnavailableError from exc
        return None if raw is None else _lists.StoredList(raw)

    async def _compute_and_store(self, actor: Actor) -> _lists.StoredList:
        # Served in its stored form, so the page's cursors carry the generation the next page
        # reads back from Redis.
        raw = _lists.dump(await self.compute(actor))
        try:
            await self._store(actor, raw)
        except REDIS_ERRORS as exc:
            logger.warning("recommendations not cached", extra={"error.type": type(exc).__name__})
        return _lists.StoredList(raw)

    async def _ranked(self, actor: Actor, viewer: uuid.UUID) -> _lists.StoredList | None:
        """The viewer's list: cached, or computed once within the deadline; None to fall back.

        A Redis failure is not a miss: it falls back at once. Under overload Redis reads time
        out because this process is saturated, and computing lists then (a ClickHouse query
        and a ranking each) deepened the overload into a collapse (docs/recommendations.md).
        """
        try:
            ranked = await self._cached(actor, viewer)
        except _CacheUnavailableError as exc:
            self.counts["cache_unavailable"] += 1
            logger.warning(
                "recommendations cache unavailable; serving the chronological feed",
                extra={"error.type": type(exc.__cause__).__name__},
            )
            return None
        if ranked is not None:
            return ranked
        started = time.monotonic()
        try:
            budget = resilience.timeout(self._settings.recs_deadline_seconds)
            async with asyncio.timeout(budget):
                return await self._per_user.do(
                    (actor.tenant_id, viewer), lambda: self._compute_and_store(actor)
                )
        except Exception as exc:  # noqa: BLE001  # any failure of the recs path degrades, never errors
            logger.warning(
                "recommendations unavailable; serving the chronological feed",
                extra={
                    "error.type": type(exc).__name__,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return None

    async def recommended_feed(
        self, actor: Actor, *, first: int = 20, after: str | None = None
    ) -> RecsPage[Post]:
        """A page of the viewer's recommended feed (or of the chronological fallback).

        ``after`` is a previous page's ``next_cursor``. A recommended cursor continues where
        that page ended if the viewer's stored list is still the one it came from, and at the
        top of the list otherwise (it was replaced by the precompute or recomputed after
        expiring; the new list lacks the posts the viewer was shown, once their impressions
        are in ClickHouse): see :class:`nova.recs._lists.Cursor`.

        Raises:
            errors.UnauthenticatedError: anonymous actor.
            errors.InvalidInputError: bad cursor or ``first``.
        """
        viewer = actor.user_id
        if viewer is None:
            raise errors.UnauthenticatedError("Sign in to see recommendations.")
        if not 1 <= first <= MAX_RECS_PAGE:
            raise errors.InvalidInputError(
                f"first must be between 1 and {MAX_RECS_PAGE} (got {first}).", field="first"
            )
        if after is not None and after.startswith("c:"):
            page = await self._fallback(actor, after=after.removeprefix("c:"), first=first)
            positions = list(range(len(page.items)))
        else:
            cursor = _cursor(after)
            ranked = await self._ranked(actor, viewer)
            if ranked:
                self.counts[RecsSource.RECOMMENDED.value] += 1
                offset = 0 if cursor is None else cursor.start_in(ranked)
                if cursor is not None and offset != cursor.offset:
                    self.counts["cursor_restarted"] += 1
                page, positions = await self._page(
                    actor, viewer, ranked, offset=offset, first=first
                )
            else:  # failed, or nothing to recommend yet
                page = await self._fallback(actor, after=None, first=first)
                positions = list(range(len(page.items)))
        await self._record_served(actor, viewer, page, positions)
        return page

    async def _page(
        self,
        actor: Actor,
        viewer: uuid.UUID,
        ranked: _lists.StoredList,
        *,
        offset: int,
        first: int,
    ) -> tuple[RecsPage[Post], list[int]]:
        """A page from the ranked list, and each item's index in that list."""
        hidden = await self._users.hidden_author_ids(actor, viewer)
        items: list[RecommendedItem[Post]] = []
        positions: list[int] = []
        pos = offset
        while len(items) < first and pos < len(ranked):
            # Over-fetch a little: a few are hidden or gone; a short page reads another chunk.
            chunk = ranked[pos : pos + first + max(2, first // 4)]
            posts = await self._content.get_posts(
                actor, [r.post_id for r in chunk if r.author_id not in hidden]
            )
            for r in chunk:
                pos += 1
                post = posts.get(r.post_id)
                if post is not None and r.author_id not in hidden:
                    items.append(RecommendedItem(post=post, reason=r.reason))
                    positions.append(pos - 1)
                    if len(items) == first:
                        break
        page = RecsPage(
            items=items,
            next_cursor=(
                _lists.Cursor(generation=ranked.generation, offset=pos).encode()
                if pos < len(ranked)
                else None
            ),
            source=RecsSource.RECOMMENDED,
        )
        return page, positions

    async def _fallback(self, actor: Actor, *, after: str | None, first: int) -> RecsPage[Post]:
        self.counts[RecsSource.CHRONOLOGICAL_FALLBACK.value] += 1
        page = await self._feed.home_feed(actor, after=after or None, limit=first)
        return RecsPage(
            items=[RecommendedItem(post=p, reason=None) for p in page.items],
            next_cursor=None if page.next_cursor is None else f"c:{page.next_cursor}",
            source=RecsSource.CHRONOLOGICAL_FALLBACK,
        )

    # -- impressions and clicks ----------------------------------------------------------------

    async def _record_served(
        self, actor: Actor, viewer: uuid.UUID, page: RecsPage[Post], positions: list[int]
    ) -> None:
        """Append one ``RecommendationsServed`` outbox row for ``page`` (never fails the page).

        A read has no business transaction to join, so the event gets its own, one statement
        long, with ``synchronous_commit = off``: the commit does not wait for the WAL flush
        (an impression lost in a PostgreSQL crash costs a data point, not a user's write), and
        the row is still atomic and ordered like every outbox row. One row per page, not per
        item: the items travel in its payload. Failing to record (pool saturated, PostgreSQL
        down) is logged and counted; the page is served regardless.
        """
        if not page.items or not self._settings.recs_record_impressions:
            return
        event = recs_events.served(actor, viewer, page, positions=positions)
        try:
            # Nothing reads impressions back from PostgreSQL: no read-your-writes position,
            # which would pin the viewer's next reads to the primary.
            with consistency.caller(None):
                async with self._db.write() as conn:
                    await conn.execute("SET LOCAL synchronous_commit = off")
                    await outbox.append(conn, event)
        except Exception as exc:  # noqa: BLE001  # telemetry must never fail the page
            self.counts["impressions_unrecorded"] += 1
            logger.warning(
                "recommendation impressions not recorded",
                extra={"error.type": type(exc).__name__},
            )
        else:
            self.counts["impression_events"] += 1

    async def record_click(
        self, actor: Actor, *, post_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Record that the viewer opened ``post_id`` from the feed (``RecommendationClicked``).

        The click is a user's write: one transaction, committed durably, with the idempotency
        key (a retried request records one click).

        Raises:
            errors.UnauthenticatedError: anonymous actor.
            errors.NotFoundError: no such post, or the viewer may not see it.
            errors.ConflictError: the idempotency key was used for another request.
        """
        viewer = actor.user_id
        if viewer is None:
            raise errors.UnauthenticatedError("Sign in to record a click.")
        post = (await self._content.get_posts(actor, [post_id])).get(post_id)
        if post is None:
            raise errors.NotFoundError("No such post.", field="postId")

        async with self._db.write() as conn:

            async def do_record() -> dict[str, Any]:
                await outbox.append(conn, recs_events.clicked(actor, viewer, post))
                return {}

            await idempotency.run_once(
                conn,
                scope=idempotency.Scope(
                    tenant_id=actor.tenant_id, user_id=viewer, key=idempotency_key
                ),
                operation="recs.click",
                request={"post_id": str(post_id)},
                execute=do_record,
            )
        self.counts["clicks"] += 1
