"""The process wiring's call graph over gRPC: gateway -> feed -> content -> users."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.platform.context import Actor
from tests.integration.feed.stack import TENANT, uid

if TYPE_CHECKING:
    from tests.integration.feed.stack import Stack
    from tests.integration.rpc.wiring import GrpcWiring

pytestmark = pytest.mark.integration


async def test_publish_follow_and_read_the_feed_over_grpc(stack: Stack, wired: GrpcWiring) -> None:
    ada, bob = await stack.user(), await stack.user()
    await wired.users.follow(bob, target_id=uid(ada))
    post = await wired.content.publish_post(ada, body="over the wire", idempotency_key="k1")
    again = await wired.content.publish_post(ada, body="over the wire", idempotency_key="k1")
    assert again.id == post.id
    await stack.drain()
    page = await wired.feed.home_feed(bob, limit=10)
    assert [p.id for p in page.items] == [post.id]
    assert page.items[0].body == "over the wire"
    liked = await wired.content.like(bob, post.id)
    assert liked.liked
    assert await wired.content.liked_by_viewer(bob, [post.id]) == frozenset({post.id})
    timeline = await wired.feed.user_timeline(bob, uid(ada), limit=5)
    assert [p.id for p in timeline.items] == [post.id]


async def test_domain_errors_keep_class_code_and_field(stack: Stack, wired: GrpcWiring) -> None:
    ada = await stack.user()
    with pytest.raises(errors.InvalidInputError) as self_follow:
        await wired.users.follow(ada, target_id=uid(ada))
    assert self_follow.value.code is errors.ErrorCode.SELF_ACTION
    assert self_follow.value.field == "userId"
    anonymous = Actor.anonymous(tenant_id=TENANT)
    username = f"dup_{uuid.uuid4().hex[:8]}"
    await wired.users.register(
        anonymous, username=username, email=f"{username}@example.com", password="x" * 12
    )
    with pytest.raises(errors.AlreadyExistsError) as taken:
        await wired.users.register(
            anonymous, username=username, email=f"o{username}@example.com", password="x" * 12
        )
    assert taken.value.code is errors.ErrorCode.USERNAME_TAKEN
    with pytest.raises(errors.NotFoundError):
        await wired.content.get_post(ada, uuid.uuid4())


async def test_concurrent_hydration_is_coalesced(stack: Stack, wired: GrpcWiring) -> None:
    people = [await stack.user() for _ in range(5)]
    ids = [uid(p) for p in people]
    before = wired.users.users_batches.rpcs
    results = await asyncio.gather(
        *(
            wired.users.get_users(viewer, [*ids[i:], uuid.uuid4()])
            for i, viewer in enumerate(people)
        )
    )
    assert [sorted(r) for r in results] == [sorted(ids[i:]) for i in range(5)]
    # Five requests of one tenant, within one window: one RPC.
    assert wired.users.users_batches.rpcs - before == 1
