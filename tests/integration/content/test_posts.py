from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from nova.content import Visibility
from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.errors import ErrorCode
from tests.integration.feed.stack import TENANT, Stack, uid

if TYPE_CHECKING:
    from nova.platform.db import Database

pytestmark = pytest.mark.integration


async def outbox_rows(db: Database) -> list[tuple[str, dict[str, object]]]:
    import orjson

    async with db.read() as conn:
        rows = await conn.fetch("SELECT event_type, payload::text FROM outbox ORDER BY seq")
    return [(r["event_type"], orjson.loads(r["payload"])) for r in rows]


async def content_events(db: Database) -> list[str]:
    return [
        t
        for t, _ in await outbox_rows(db)
        if t not in {"UserRegistered", "Followed", "Blocked", "Muted", "PreferencesUpdated"}
    ]


async def test_publish_writes_post_and_event_together(stack: Stack, db: Database) -> None:
    alice = await stack.user()

    post = await stack.content.publish_post(alice, body="  hello world  ")

    assert post.body == "hello world"
    assert post.author_id == uid(alice)
    assert post.visibility is Visibility.PUBLIC
    assert (post.version, post.like_count, post.comment_count) == (1, 0, 0)
    published = [p for t, p in await outbox_rows(db) if t == "PostPublished"]
    assert published == [
        {
            "post_id": str(post.id),
            "author_id": str(uid(alice)),
            "visibility": "public",
            "created_at": post.created_at.isoformat(),
        }
    ]


async def test_publish_failure_leaves_nothing_half_written(
    stack: Stack, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await stack.user()

    async def broken_append(*_args: object) -> None:
        raise RuntimeError("outbox down")

    monkeypatch.setattr("nova.content.service.outbox.append", broken_append)
    with pytest.raises(RuntimeError):
        await stack.content.publish_post(alice, body="lost")

    async with db.read() as conn:
        assert await conn.fetchval("SELECT count(*) FROM posts") == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 5001}, "body"),
        ({"body": "hi", "visibility": "friends"}, "visibility"),
        ({"body": "hi", "media_ids": [uuid.uuid4()]}, "mediaIds"),
    ],
)
async def test_publish_rejects_bad_input(
    stack: Stack, db: Database, kwargs: dict[str, object], field: str
) -> None:
    alice = await stack.user()

    with pytest.raises(errors.InvalidInputError) as info:
        await stack.content.publish_post(alice, **kwargs)  # type: ignore[arg-type]  # parametrized

    assert info.value.code is ErrorCode.INVALID_INPUT
    assert info.value.field == field
    assert await content_events(db) == []


async def test_publish_needs_a_signed_in_actor(stack: Stack) -> None:
    with pytest.raises(errors.UnauthenticatedError):
        await stack.content.publish_post(Actor.anonymous(tenant_id=TENANT), body="hi")


async def test_publish_with_idempotency_key_publishes_once(stack: Stack, db: Database) -> None:
    alice = await stack.user()

    first = await stack.content.publish_post(alice, body="once", idempotency_key="k1")
    again = await stack.content.publish_post(alice, body="once", idempotency_key="k1")

    assert again.id == first.id
    assert await content_events(db) == ["PostPublished"]
    with pytest.raises(errors.ConflictError):
        await stack.content.publish_post(alice, body="other", idempotency_key="k1")


async def test_edit_by_author_bumps_version(stack: Stack, db: Database) -> None:
    alice, bob = await stack.user(), await stack.user()
    post = await stack.content.publish_post(alice, body="v1")

    edited = await stack.content.edit_post(alice, post.id, body="v2", visibility="followers")

    assert (edited.body, edited.version, edited.visibility) == ("v2", 2, Visibility.FOLLOWERS)
    assert edited.edited_at is not None
    assert await content_events(db) == ["PostPublished", "PostEdited"]
    with pytest.raises(errors.NotFoundError):  # bob cannot even see a followers-only post
        await stack.content.edit_post(bob, post.id, body="hack")


async def test_non_author_cannot_edit_or_delete_a_visible_post(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    post = await stack.content.publish_post(alice, body="mine")

    with pytest.raises(errors.PermissionDeniedError) as info:
        await stack.content.edit_post(bob, post.id, body="hack")
    assert info.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(errors.PermissionDeniedError):
        await stack.content.delete_post(bob, post.id)


async def test_deleted_post_is_gone_everywhere(stack: Stack, db: Database) -> None:
    alice, bob = await stack.user(), await stack.user()
    keep = await stack.content.publish_post(alice, body="keep")
    gone = await stack.content.publish_post(alice, body="gone")

    await stack.content.delete_post(alice, gone.id)

    for viewer in (alice, bob):
        with pytest.raises(errors.NotFoundError):
            await stack.content.get_post(viewer, gone.id)
        assert set(await stack.content.get_posts(viewer, [keep.id, gone.id])) == {keep.id}
        page = await stack.content.list_user_posts(viewer, uid(alice))
        assert [p.id for p in page.items] == [keep.id]
    with pytest.raises(errors.NotFoundError):
        await stack.content.delete_post(alice, gone.id)
    assert (await content_events(db))[-1] == "PostDeleted"


async def test_visibility_rules(stack: Stack) -> None:
    author, follower, stranger = await stack.user(), await stack.user(), await stack.user()
    await stack.follow(follower, author)
    public = await stack.content.publish_post(author, body="p", visibility="public")
    followers = await stack.content.publish_post(author, body="f", visibility="followers")
    private = await stack.content.publish_post(author, body="x", visibility="private")
    anonymous = Actor.anonymous(tenant_id=TENANT)
    ids = [public.id, followers.id, private.id]

    assert set(await stack.content.get_posts(author, ids)) == set(ids)
    assert set(await stack.content.get_posts(follower, ids)) == {public.id, followers.id}
    assert set(await stack.content.get_posts(stranger, ids)) == {public.id}
    assert set(await stack.content.get_posts(anonymous, ids)) == {public.id}
    with pytest.raises(errors.NotFoundError) as info:
        await stack.content.get_post(stranger, followers.id)
    assert info.value.field == "postId"
    listed = {
        viewer: [p.id for p in (await stack.content.list_user_posts(a, uid(author))).items]
        for viewer, a in (("author", author), ("follower", follower), ("stranger", stranger))
    }
    assert listed == {
        "author": [private.id, followers.id, public.id],
        "follower": [followers.id, public.id],
        "stranger": [public.id],
    }


async def test_block_hides_posts_both_ways(stack: Stack) -> None:
    alice, bob = await stack.user(), await stack.user()
    by_alice = await stack.content.publish_post(alice, body="a")
    by_bob = await stack.content.publish_post(bob, body="b")

    await stack.block(alice, bob)

    with pytest.raises(errors.NotFoundError):
        await stack.content.get_post(bob, by_alice.id)
    with pytest.raises(errors.NotFoundError):
        await stack.content.get_post(alice, by_bob.id)
    assert await stack.content.get_posts(bob, [by_alice.id]) == {}
    with pytest.raises(errors.NotFoundError):
        await stack.content.list_user_posts(bob, uid(alice))
    with pytest.raises(errors.NotFoundError):
        await stack.content.like(bob, by_alice.id)
    with pytest.raises(errors.NotFoundError):
        await stack.content.add_comment(alice, by_bob.id, body="hi")


async def test_get_posts_is_one_query_whatever_the_page_size(stack: Stack, db: Database) -> None:
    alice, bob = await stack.user(), await stack.user()
    ids = [(await stack.content.publish_post(alice, body=f"{i}")).id for i in range(20)]
    await stack.content.get_posts(bob, ids[:1])  # warm caches and prepared statements

    before = db.stats.statements
    await stack.content.get_posts(bob, ids[:1])
    one = db.stats.statements - before
    before = db.stats.statements
    found = await stack.content.get_posts(bob, ids)
    many = db.stats.statements - before

    assert len(found) == 20
    assert many == one


async def test_user_posts_keyset_pages_are_stable_while_posting(stack: Stack) -> None:
    alice = await stack.user()
    ids = [(await stack.content.publish_post(alice, body=f"{i}")).id for i in range(5)]

    first = await stack.content.list_user_posts(alice, uid(alice), limit=2)
    await stack.content.publish_post(alice, body="newer")
    listing = stack.content.list_user_posts
    second = await listing(alice, uid(alice), after=first.next_cursor, limit=2)
    third = await listing(alice, uid(alice), after=second.next_cursor, limit=2)

    assert [p.id for p in first.items + second.items + third.items] == ids[::-1]
    assert third.next_cursor is None
    with pytest.raises(errors.InvalidInputError) as info:
        await stack.content.list_user_posts(alice, uid(alice), after="garbage!")
    assert info.value.field == "after"
