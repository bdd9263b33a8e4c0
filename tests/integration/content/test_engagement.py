from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.db import Database, PoolPolicy
from nova.platform.errors import ErrorCode
from tests.integration.feed import seed
from tests.integration.feed.stack import TENANT, Stack, build_stack, uid

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.config import Settings

pytestmark = pytest.mark.integration


async def event_types(db: Database, *types: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.fetch(
            "SELECT event_type FROM outbox WHERE event_type = ANY($1::text[]) ORDER BY seq",
            list(types),
        )
    return [r["event_type"] for r in rows]


async def test_fifty_concurrent_likes_count_exactly(
    database_url: str, redis_client: aioredis.Redis, settings: Settings
) -> None:
    db = await Database.connect(database_url, policy=PoolPolicy(size=20, queue_ratio=5))
    try:
        stack = build_stack(db=db, redis=redis_client, settings=settings)
        author = await stack.user()
        post = await stack.content.publish_post(author, body="like me")
        async with db.write() as conn:
            likers = await seed.copy_users(conn, 50, prefix="liker")
        actors = [Actor.user(u, tenant_id=TENANT) for u in likers]

        states = await asyncio.gather(*(stack.content.like(a, post.id) for a in actors))
        again = await asyncio.gather(*(stack.content.like(a, post.id) for a in actors[:10]))

        assert sum(s.changed for s in states) == 50
        assert not any(s.changed for s in again)
        assert (await stack.content.get_post(author, post.id)).like_count == 50
        async with db.read() as conn:
            assert await conn.fetchval("SELECT count(*) FROM likes") == 50
        assert len(await event_types(db, "Liked")) == 50
    finally:
        await db.close()


async def test_like_and_unlike_are_idempotent(stack: Stack, db: Database) -> None:
    alice, bob = await stack.user(), await stack.user()
    post = await stack.content.publish_post(alice, body="p")
    other = await stack.content.publish_post(alice, body="q")

    first = await stack.content.like(bob, post.id)
    second = await stack.content.like(bob, post.id)
    liked = await stack.content.liked_by_viewer(bob, [post.id, other.id])
    gone = await stack.content.unlike(bob, post.id)
    gone_again = await stack.content.unlike(bob, post.id)

    assert (first.changed, first.like_count) == (True, 1)
    assert (second.changed, second.like_count) == (False, 1)
    assert liked == {post.id}
    assert (gone.changed, gone.liked, gone.like_count) == (True, False, 0)
    assert (gone_again.changed, gone_again.like_count) == (False, 0)
    assert await event_types(db, "Liked", "Unliked") == ["Liked", "Unliked"]
    assert await stack.content.liked_by_viewer(Actor.anonymous(tenant_id=TENANT), [post.id]) == (
        frozenset()
    )


async def test_liked_by_viewer_is_one_query(stack: Stack, db: Database) -> None:
    alice = await stack.user()
    ids = [(await stack.content.publish_post(alice, body=f"{i}")).id for i in range(10)]

    before = db.stats.statements
    await stack.content.liked_by_viewer(alice, ids)

    assert db.stats.statements - before == 1


async def test_comments_replies_and_counts(stack: Stack, db: Database) -> None:
    alice, bob, carol = await stack.user(), await stack.user(), await stack.user()
    post = await stack.content.publish_post(alice, body="discuss")

    top = await stack.content.add_comment(bob, post.id, body="first!")
    reply = await stack.content.add_comment(alice, post.id, body="thanks", parent_id=top.id)
    with pytest.raises(errors.InvalidInputError) as info:
        await stack.content.add_comment(carol, post.id, body="deep", parent_id=reply.id)
    assert info.value.field == "parentId"
    with pytest.raises(errors.InvalidInputError) as info:
        await stack.content.add_comment(carol, post.id, body="   ")
    assert info.value.field == "body"
    await stack.content.add_comment(carol, post.id, body="me too")

    assert await stack.content.comment_count(carol, post.id) == 3
    first = await stack.content.list_comments(carol, post.id, limit=2)
    rest = await stack.content.list_comments(carol, post.id, after=first.next_cursor, limit=2)
    assert [c.body for c in first.items + rest.items] == ["first!", "thanks", "me too"]
    assert rest.next_cursor is None
    assert reply.parent_id == top.id
    assert len(await event_types(db, "Commented")) == 3


async def test_comment_deletion_rights(stack: Stack) -> None:
    author, commenter, stranger = await stack.user(), await stack.user(), await stack.user()
    post = await stack.content.publish_post(author, body="p")
    c1 = await stack.content.add_comment(commenter, post.id, body="one")
    c2 = await stack.content.add_comment(commenter, post.id, body="two")

    with pytest.raises(errors.PermissionDeniedError) as info:
        await stack.content.delete_comment(stranger, c1.id)
    assert info.value.code is ErrorCode.FORBIDDEN
    await stack.content.delete_comment(commenter, c1.id)
    await stack.content.delete_comment(author, c2.id)

    assert await stack.content.comment_count(author, post.id) == 0
    assert (await stack.content.list_comments(author, post.id)).items == []
    with pytest.raises(errors.NotFoundError):
        await stack.content.delete_comment(author, c1.id)


async def test_comments_of_blocked_users_are_hidden(stack: Stack) -> None:
    alice, bob, carol = await stack.user(), await stack.user(), await stack.user()
    post = await stack.content.publish_post(alice, body="p")
    await stack.content.add_comment(bob, post.id, body="from bob")
    await stack.content.add_comment(carol, post.id, body="from carol")

    await stack.block(carol, bob)

    page = await stack.content.list_comments(carol, post.id)
    assert [c.body for c in page.items] == ["from carol"]


async def test_who_can_comment_preference(stack: Stack) -> None:
    author, follower, stranger = await stack.user(), await stack.user(), await stack.user()
    await stack.follow(follower, author)
    post = await stack.content.publish_post(author, body="p")

    await stack.users_service.update_preferences(author, changes={"who_can_comment": "followers"})
    await stack.content.add_comment(follower, post.id, body="ok")
    with pytest.raises(errors.PermissionDeniedError):
        await stack.content.add_comment(stranger, post.id, body="no")

    await stack.users_service.update_preferences(author, changes={"who_can_comment": "nobody"})
    with pytest.raises(errors.PermissionDeniedError):
        await stack.content.add_comment(follower, post.id, body="no")
    await stack.content.add_comment(author, post.id, body="author always may")
    assert await stack.content.comment_count(author, post.id) == 2


async def test_comment_on_deleted_or_unknown_post(stack: Stack) -> None:
    alice = await stack.user()
    post = await stack.content.publish_post(alice, body="p")
    await stack.content.delete_post(alice, post.id)

    with pytest.raises(errors.NotFoundError) as info:
        await stack.content.add_comment(alice, post.id, body="late")
    assert info.value.field == "postId"
    with pytest.raises(errors.NotFoundError):
        await stack.content.like(alice, post.id)
    assert uid(alice) is not None
