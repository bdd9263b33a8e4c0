from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import pytest

from nova.feed import FeedSource
from nova.platform import cache, errors
from nova.platform.context import Actor
from tests.integration.feed import seed
from tests.integration.feed.stack import TENANT, Stack, build_stack, uid

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database

pytestmark = pytest.mark.integration


async def timeline_ids(stack: Stack, user: Actor | uuid.UUID) -> set[uuid.UUID]:
    user_id = user if isinstance(user, uuid.UUID) else uid(user)
    key = f"{stack.settings.redis_key_prefix}tl:{user_id}"
    members = await stack.redis.zrange(key, 0, -1)
    texts = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    return {uuid.UUID(t) for t in texts if t != "~"}


async def feed_ids(stack: Stack, viewer: Actor, limit: int = 50) -> list[uuid.UUID]:
    return [p.id for p in (await stack.feed.home_feed(viewer, limit=limit)).items]


async def test_fan_out_reaches_five_thousand_active_followers(stack: Stack, db: Database) -> None:
    author = await stack.user()
    async with db.write() as conn:
        followers = await seed.copy_users(conn, 5000, prefix="fan")
        idle = await seed.copy_users(
            conn, 3, prefix="idle", last_active_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
        )
        await seed.copy_follows(conn, [(f, uid(author)) for f in followers + idle])

    post = await stack.content.publish_post(author, body="to everyone")
    await stack.drain()

    pipe = stack.redis.pipeline(transaction=False)
    prefix = stack.settings.redis_key_prefix
    queued = [pipe.zscore(f"{prefix}tl:{follower}", str(post.id)) for follower in followers]
    assert len(queued) == 5000
    scores = await pipe.execute()
    assert sum(score is not None for score in scores) == 5000
    assert post.id in await timeline_ids(stack, author)
    for user_id in idle:
        assert await timeline_ids(stack, user_id) == set()


async def test_author_above_threshold_is_pulled_not_fanned_out(
    db: Database, redis_client: aioredis.Redis, settings: Settings
) -> None:
    stack = build_stack(
        db=db,
        redis=redis_client,
        settings=settings.model_copy(update={"fanout_follower_threshold": 2}),
    )
    star = await stack.user()
    fans = [await stack.user() for _ in range(3)]
    for fan in fans:
        await stack.follow(fan, star)
    post = await stack.content.publish_post(star, body="from a star")
    await stack.drain()

    for fan in fans:
        assert post.id not in await timeline_ids(stack, fan)
        page = await stack.feed.home_feed(fan)
        assert [p.id for p in page.items] == [post.id]
        warm = await stack.feed.home_feed(fan)
        assert (warm.source, warm.partial) == (FeedSource.TIMELINE, False)
        assert [p.id for p in warm.items] == [post.id]


async def test_cold_timeline_is_rebuilt_and_marked_partial(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    await stack.follow(alice, bob)
    older = await stack.content.publish_post(bob, body="1")
    newer = await stack.content.publish_post(bob, body="2")
    mine = await stack.content.publish_post(alice, body="3")
    # No drain: nothing was fanned out, the timeline does not exist.

    cold = await stack.feed.home_feed(alice)
    warm = await stack.feed.home_feed(alice)

    assert (cold.partial, cold.source) == (True, FeedSource.REBUILT)
    assert [p.id for p in cold.items] == [mine.id, newer.id, older.id]
    assert (warm.partial, warm.source) == (False, FeedSource.TIMELINE)
    assert [p.id for p in warm.items] == [mine.id, newer.id, older.id]


async def test_evicted_timeline_is_rebuilt(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    await stack.follow(alice, bob)
    post = await stack.content.publish_post(bob, body="x")
    await stack.drain()
    await stack.feed.home_feed(alice)

    await stack.redis.delete(f"{stack.settings.redis_key_prefix}tl:{uid(alice)}")
    page = await stack.feed.home_feed(alice)

    assert page.partial
    assert [p.id for p in page.items] == [post.id]


async def test_fanned_out_post_appears_in_a_warm_feed(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    await stack.follow(alice, bob)
    assert (await stack.feed.home_feed(alice)).items == []  # warms an empty timeline

    post = await stack.content.publish_post(bob, body="news")
    await stack.drain()
    page = await stack.feed.home_feed(alice)

    assert (page.source, [p.id for p in page.items]) == (FeedSource.TIMELINE, [post.id])


async def test_deleted_post_disappears_from_every_home_feed(stack: Stack) -> None:
    author = await stack.user()
    readers = [await stack.user() for _ in range(3)]
    for reader in readers:
        await stack.follow(reader, author)
        await stack.feed.home_feed(reader)
    keep = await stack.content.publish_post(author, body="keep")
    gone = await stack.content.publish_post(author, body="gone")
    await stack.drain()
    for reader in readers:
        assert gone.id in await timeline_ids(stack, reader)

    await stack.content.delete_post(author, gone.id)

    for reader in [*readers, author]:  # at once, before any event is handled
        assert await feed_ids(stack, reader) == [keep.id]
    await stack.drain()
    for reader in [*readers, author]:
        assert gone.id not in await timeline_ids(stack, reader)


async def test_block_hides_both_directions_at_once(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    await stack.follow(alice, bob)
    await stack.follow(bob, alice)
    await stack.feed.home_feed(alice)
    await stack.feed.home_feed(bob)
    by_alice = await stack.content.publish_post(alice, body="a")
    by_bob = await stack.content.publish_post(bob, body="b")
    await stack.drain()
    assert by_bob.id in await timeline_ids(stack, alice)

    await stack.block(alice, bob)

    assert await feed_ids(stack, alice) == [by_alice.id]
    assert await feed_ids(stack, bob) == [by_bob.id]
    await stack.drain()
    assert by_bob.id not in await timeline_ids(stack, alice)
    assert by_alice.id not in await timeline_ids(stack, bob)


async def test_unfollow_and_mute_hide_at_once(stack: Stack) -> None:
    alice, bob, carol = await stack.user(), await stack.user(), await stack.user()
    await stack.follow(alice, bob)
    await stack.follow(alice, carol)
    await stack.feed.home_feed(alice)
    by_bob = await stack.content.publish_post(bob, body="b")
    by_carol = await stack.content.publish_post(carol, body="c")
    await stack.drain()
    assert await feed_ids(stack, alice) == [by_carol.id, by_bob.id]

    await stack.users_service.unfollow(alice, target_id=uid(bob))
    await stack.users_service.mute(alice, target_id=uid(carol))

    assert await feed_ids(stack, alice) == []
    await stack.drain()
    assert by_bob.id not in await timeline_ids(stack, alice)


async def test_visibility_in_the_home_feed(stack: Stack) -> None:
    author, follower = await stack.user(), await stack.user()
    await stack.follow(follower, author)
    public = await stack.content.publish_post(author, body="p")
    followers = await stack.content.publish_post(author, body="f", visibility="followers")
    private = await stack.content.publish_post(author, body="x", visibility="private")
    await stack.drain()

    assert await feed_ids(stack, follower) == [followers.id, public.id]
    assert await feed_ids(stack, author) == [private.id, followers.id, public.id]


async def test_pages_are_full_and_stable_while_new_posts_arrive(stack: Stack) -> None:
    reader, friend, noisy = await stack.user(), await stack.user(), await stack.user()
    await stack.follow(reader, friend)
    await stack.follow(reader, noisy)
    await stack.feed.home_feed(reader)
    expected = []
    for i in range(12):
        expected.append((await stack.content.publish_post(friend, body=f"{i}")).id)
        for _ in range(3):  # muted noise the page must over-fetch past
            await stack.content.publish_post(noisy, body="noise")
    await stack.drain()
    await stack.users_service.mute(reader, target_id=uid(noisy))

    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await stack.feed.home_feed(reader, after=cursor, limit=5)
        assert len(page.items) == 5 or page.next_cursor is None
        seen += [p.id for p in page.items]
        await stack.content.publish_post(friend, body="newer, must not shift pages")
        await stack.drain()
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == expected[::-1]


async def test_feed_without_redis_is_served_from_postgres(
    db: Database, redis_client: aioredis.Redis, settings: Settings
) -> None:
    dead = cache.connect("redis://127.0.0.1:1", timeout=0.2)
    try:
        stack = build_stack(db=db, redis=redis_client, settings=settings, feed_redis=dead)
        alice, bob = await stack.user(), await stack.user()
        await stack.follow(alice, bob)
        post = await stack.content.publish_post(bob, body="still here")
        mine = await stack.content.publish_post(alice, body="mine")

        page = await stack.feed.home_feed(alice)

        assert (page.partial, page.source) == (True, FeedSource.DATABASE)
        assert [p.id for p in page.items] == [mine.id, post.id]
    finally:
        await dead.aclose()


async def test_home_feed_rejects_bad_input(stack: Stack) -> None:
    alice = await stack.user()

    for limit in (0, 51):
        with pytest.raises(errors.InvalidInputError) as info:
            await stack.feed.home_feed(alice, limit=limit)
        assert info.value.field == "limit"
    with pytest.raises(errors.InvalidInputError) as info:
        await stack.feed.home_feed(alice, after="%%%")
    assert info.value.field == "after"
    with pytest.raises(errors.UnauthenticatedError):
        await stack.feed.home_feed(Actor.anonymous(tenant_id=TENANT))


async def test_user_timeline_is_the_content_listing(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    post = await stack.content.publish_post(alice, body="hi")

    page = await stack.feed.user_timeline(bob, uid(alice))

    assert [p.id for p in page.items] == [post.id]
