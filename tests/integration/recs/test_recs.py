from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from typing_extensions import override

from nova.platform import errors, resilience
from nova.platform.analytics import ClickHouse
from nova.platform.db import Database, PoolPolicy
from nova.recs import RecsService, RecsSource
from nova.recs import events as recs_events
from tests.integration.feed.stack import Stack, build_stack, uid

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from nova.content.client import Post
    from nova.platform.analytics import ChdbClickHouse
    from nova.platform.context import Actor

pytestmark = pytest.mark.integration


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def published(ch: ClickHouse, post: Post) -> None:
    """The feed-candidate row the analytics sink writes for ``PostPublished``."""
    await ch.insert(
        "feed_candidates",
        [
            {
                "user_id": str(post.author_id),
                "created_at": _ts(post.created_at),
                "post_id": str(post.id),
                "tenant_id": post.tenant_id,
                "visibility": str(post.visibility),
                "deleted": 0,
                "version": post.version,
                "event_id": str(uuid.uuid4()),
            }
        ],
    )


async def liked(ch: ClickHouse, post: Post, user: Actor) -> None:
    """The engagement row the analytics sink writes for ``Liked``."""
    await ch.insert(
        "engagement_events",
        [
            {
                "event_id": str(uuid.uuid4()),
                "tenant_id": post.tenant_id,
                "event_type": "Liked",
                "post_id": str(post.id),
                "user_id": str(uid(user)),
                "author_id": str(post.author_id),
                "occurred_at": _ts(dt.datetime.now(dt.UTC)),
            }
        ],
    )


class Counting(ClickHouse):
    """Counts candidate queries; optionally fails or stalls them."""

    def __init__(self, inner: ClickHouse, *, fail: bool = False, delay: float = 0.0) -> None:
        self.inner = inner
        self.fail = fail
        self.delay = delay
        self.queries = 0

    @override
    async def command(self, sql: str) -> None:
        await self.inner.command(sql)

    @override
    async def query(self, sql: str) -> list[list[Any]]:
        self.queries += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionRefusedError("clickhouse is down")
        return await self.inner.query(sql)

    @override
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        await self.inner.insert(table, rows)

    @override
    async def aclose(self) -> None:
        await self.inner.aclose()


def service(stack: Stack, ch: ClickHouse, **overrides: Any) -> RecsService:
    settings = stack.settings.model_copy(
        update={"recs_precompute_jitter_seconds": 0.0, **overrides}
    )
    return RecsService(
        clickhouse=ch,
        redis=stack.redis,
        db=stack.db,
        users=stack.users,
        content=stack.content,
        feed=stack.feed,
        settings=settings,
    )


async def world(stack: Stack, ch: ClickHouse) -> dict[str, Any]:
    """viewer follows friend; friend liked a stranger's post; a blocked author trends."""
    viewer, friend, stranger, blocked = [await stack.user() for _ in range(4)]
    await stack.follow(viewer, friend)
    await stack.block(viewer, blocked)
    friends_post = await stack.content.publish_post(friend, body="from a friend")
    strangers_post = await stack.content.publish_post(stranger, body="liked by a friend")
    blocked_post = await stack.content.publish_post(blocked, body="blocked")
    own_post = await stack.content.publish_post(viewer, body="mine")
    for post in (friends_post, strangers_post, blocked_post, own_post):
        await published(ch, post)
    await liked(ch, strangers_post, friend)
    await liked(ch, blocked_post, stranger)
    await liked(ch, own_post, friend)
    await stack.drain()
    return {
        "viewer": viewer,
        "friend": friend,
        "friends_post": friends_post,
        "strangers_post": strangers_post,
        "blocked_post": blocked_post,
        "own_post": own_post,
    }


async def test_precompute_fills_the_cache_and_serves_ranked_items(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    w = await world(stack, clickhouse)
    viewer = w["viewer"]
    recs = service(stack, clickhouse)

    assert await recs.active_users("default") != []
    assert await recs.precompute_active([uid(viewer)], tenant_id="default") == (1, 0)
    key = recs.key("default", uid(viewer))
    assert 0 < await stack.redis.ttl(key) <= stack.settings.recs_cache_ttl

    page = await recs.recommended_feed(viewer, first=10)
    assert page.source is RecsSource.RECOMMENDED
    ids = [item.post.id for item in page.items]
    assert ids[0] == w["strangers_post"].id  # friend engaged + trending outranks followed
    assert set(ids) == {w["strangers_post"].id, w["friends_post"].id}
    reason = page.items[0].reason
    assert reason is not None
    assert reason.sources == ("friends_engaged", "trending")
    assert dict(reason.parts)["source"] > 0
    assert recs.counts["computed"] == 1  # served from the precomputed list


async def test_a_miss_under_50_concurrent_requests_queries_clickhouse_once(
    stack: Stack, clickhouse: ChdbClickHouse, database_url: str
) -> None:
    w = await world(stack, clickhouse)
    counting = Counting(clickhouse)
    # 50 simultaneous hydrations would trip the default pool's early rejection (by design);
    # this test is about ClickHouse, so PostgreSQL gets a queue deep enough for the burst.
    deep = await Database.connect(
        database_url, policy=PoolPolicy(size=10, queue_ratio=10.0, reject_above=1.0)
    )
    try:
        wide = build_stack(db=deep, redis=stack.redis, settings=stack.settings)
        recs = service(wide, counting, recs_deadline_seconds=5.0)
        pages = await asyncio.gather(
            *(recs.recommended_feed(w["viewer"], first=5) for _ in range(50))
        )
    finally:
        await deep.close()

    assert counting.queries == 1
    assert recs.counts["computed"] == 1
    assert {p.source for p in pages} == {RecsSource.RECOMMENDED}
    assert all(p.items[0].post.id == w["strangers_post"].id for p in pages)


async def test_clickhouse_down_serves_the_chronological_feed(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    w = await world(stack, clickhouse)
    down = Counting(clickhouse, fail=True)
    recs = service(stack, down)

    page = await recs.recommended_feed(w["viewer"], first=10)

    assert page.source is RecsSource.CHRONOLOGICAL_FALLBACK
    ids = [item.post.id for item in page.items]
    assert w["friends_post"].id in ids
    assert all(item.reason is None for item in page.items)
    for _ in range(10):  # the breaker opens: ClickHouse stops being asked
        assert (await recs.recommended_feed(w["viewer"])).source is (
            RecsSource.CHRONOLOGICAL_FALLBACK
        )
    assert down.queries < 11


async def test_clickhouse_slower_than_the_deadline_serves_the_chronological_feed(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    w = await world(stack, clickhouse)
    slow = Counting(clickhouse, delay=5.0)
    recs = service(stack, slow, recs_deadline_seconds=0.2)

    started = time.monotonic()
    pages = await asyncio.gather(*(recs.recommended_feed(w["viewer"]) for _ in range(5)))

    assert time.monotonic() - started < 2.0
    assert {p.source for p in pages} == {RecsSource.CHRONOLOGICAL_FALLBACK}
    assert slow.queries == 1


async def test_precompute_has_its_own_deadline_and_breaker(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: ClickHouse answers in 0.3 s: slower than serving's 0.1 s, within the job's 5 s
    w = await world(stack, clickhouse)
    slow = Counting(clickhouse, delay=0.3)
    overrides = {"recs_deadline_seconds": 0.1, "recs_precompute_deadline_seconds": 5.0}
    users = [uid(w["viewer"])] + [uid(await stack.user()) for _ in range(5)]

    # when: the job runs for six users
    recs = service(stack, slow, **overrides)
    stored = await recs.precompute_active(users, tenant_id="default")

    # then: every list is stored, and six calls slower than the serving deadline left the
    # serving breaker closed (through it, they would have opened it: 6 >= 5 slow calls)
    assert stored == (6, 0)
    assert recs.breaker.state is resilience.BreakerState.CLOSED
    assert recs.job_breaker.state is resilience.BreakerState.CLOSED
    page = await recs.recommended_feed(w["viewer"])
    assert page.source is RecsSource.RECOMMENDED
    assert page.items[0].post.id == w["strangers_post"].id

    # when: the serving breaker is open (ClickHouse failing requests), the job still runs
    opened = service(stack, slow, **overrides)
    while opened.breaker.state is not resilience.BreakerState.OPEN:
        opened.breaker.record_failure()
    before = slow.queries
    served = await opened.recommended_feed(await stack.user())
    assert served.source is RecsSource.CHRONOLOGICAL_FALLBACK
    assert slow.queries == before  # an open serving breaker asks ClickHouse nothing
    assert await opened.precompute_active(users[:2], tenant_id="default") == (2, 0)
    assert slow.queries == before + 2


async def _outbox(stack: Stack, viewer: Actor) -> list[tuple[str, dict[str, Any]]]:
    async with stack.db.read(primary=True) as conn:
        rows = await conn.fetch(
            "SELECT event_type, payload FROM outbox WHERE aggregate_type = $1"
            " AND aggregate_id = $2 ORDER BY seq",
            recs_events.AGGREGATE,
            str(uid(viewer)),
        )
    return [(r["event_type"], orjson.loads(r["payload"])) for r in rows]


async def test_a_page_is_one_impression_event_and_a_click_is_recorded_once(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    w = await world(stack, clickhouse)
    viewer = w["viewer"]
    recs = service(stack, clickhouse)

    page = await recs.recommended_feed(viewer, first=10)
    fallback = await recs.recommended_feed(viewer, first=10, after="c:")
    await recs.record_click(viewer, post_id=w["strangers_post"].id, idempotency_key="k1")
    await recs.record_click(viewer, post_id=w["strangers_post"].id, idempotency_key="k1")
    with pytest.raises(errors.NotFoundError):  # blocked author: the viewer may not see it
        await recs.record_click(viewer, post_id=w["blocked_post"].id)

    rows = await _outbox(stack, viewer)
    assert [t for t, _ in rows] == [
        recs_events.SERVED,
        recs_events.SERVED,
        recs_events.CLICKED,
    ]  # one row per page, however many items; the retried click once
    served = rows[0][1]
    assert served["source"] == "RECOMMENDED"
    assert [i["post_id"] for i in served["items"]] == [str(i.post.id) for i in page.items]
    assert [i["position"] for i in served["items"]] == [0, 1]
    assert served["items"][0]["sources"] == ["friends_engaged", "trending"]
    assert rows[1][1]["source"] == "CHRONOLOGICAL_FALLBACK"
    assert len(rows[1][1]["items"]) == len(fallback.items)
    assert rows[2][1]["post_id"] == str(w["strangers_post"].id)
