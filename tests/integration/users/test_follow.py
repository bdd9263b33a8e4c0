import asyncio
import datetime as dt
import random
import uuid

import pytest

from nova.platform import errors, idempotency
from nova.platform.cache import VersionedCache
from nova.platform.config import Settings
from nova.platform.db import Database, PoolPolicy
from nova.users import FollowState, Passwords, UsersService
from tests.integration.users._support import People, counters_match, counts, fetchval, outbox_types

pytestmark = pytest.mark.integration


async def test_follow_public_account_follows_and_counts_once(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob")

    # when: following twice (idempotent)
    first = await users.follow(ada.actor, target_id=bob.id)
    second = await users.follow(ada.actor, target_id=bob.id)

    # then
    assert first is second is FollowState.FOLLOWING
    assert await counts(db, bob.id) == (1, 0)
    assert await counts(db, ada.id) == (0, 1)
    assert await outbox_types(db) == ["Followed"]


async def test_follow_self_is_rejected(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.follow(ada.actor, target_id=ada.id)

    assert caught.value.code is errors.ErrorCode.SELF_ACTION


async def test_follow_unknown_user_is_not_found(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.NotFoundError) as caught:
        await users.follow(ada.actor, target_id=uuid.uuid4())

    assert caught.value.code is errors.ErrorCode.NOT_FOUND


async def test_follow_across_a_block_is_denied_without_saying_who_blocked(
    users: UsersService, people: People, db: Database
) -> None:
    # given: ada blocks bob
    ada, bob = await people.new("ada"), await people.new("bob")
    await users.block(ada.actor, target_id=bob.id)

    # when: each tries to follow the other
    with pytest.raises(errors.PermissionDeniedError) as blocked_one:
        await users.follow(bob.actor, target_id=ada.id)
    with pytest.raises(errors.PermissionDeniedError) as blocker:
        await users.follow(ada.actor, target_id=bob.id)

    # then: the same error either way
    assert blocked_one.value.code is errors.ErrorCode.BLOCKED
    assert blocked_one.value.as_dict() == blocker.value.as_dict()
    assert await fetchval(db, "SELECT count(*) FROM follows") == 0


async def test_follow_private_account_creates_a_request(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob", private=True)

    # when
    state = await users.follow(ada.actor, target_id=bob.id)
    again = await users.follow(ada.actor, target_id=bob.id)

    # then
    assert state is again is FollowState.REQUESTED
    assert await counts(db, bob.id) == (0, 0)
    assert (await outbox_types(db))[-1:] == ["FollowRequested"]
    assert (await outbox_types(db)).count("FollowRequested") == 1
    requests = await users.list_follow_requests(bob.actor)
    assert [u.id for u in requests.items] == [ada.id]


async def test_approving_a_request_makes_the_follow(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob", private=True)
    await users.follow(ada.actor, target_id=bob.id)

    # when
    await users.approve_follow_request(bob.actor, requester_id=ada.id)

    # then
    relation = (await users.relations(ada.actor, viewer_id=ada.id, other_ids=[bob.id]))[bob.id]
    assert relation.follow is FollowState.FOLLOWING
    assert await counts(db, bob.id) == (1, 0)
    assert (await outbox_types(db))[-2:] == ["FollowRequestApproved", "Followed"]
    assert (await users.list_follow_requests(bob.actor)).items == []


async def test_rejecting_a_request_leaves_no_follow(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob", private=True)
    await users.follow(ada.actor, target_id=bob.id)

    # when
    await users.reject_follow_request(bob.actor, requester_id=ada.id)

    # then
    relation = (await users.relations(ada.actor, viewer_id=ada.id, other_ids=[bob.id]))[bob.id]
    assert relation.follow is FollowState.NONE
    assert await counts(db, bob.id) == (0, 0)
    assert (await outbox_types(db))[-1] == "FollowRequestRejected"


async def test_approving_without_a_request_is_not_found(
    users: UsersService, people: People
) -> None:
    ada, bob = await people.new("ada"), await people.new("bob", private=True)

    with pytest.raises(errors.NotFoundError) as caught:
        await users.approve_follow_request(bob.actor, requester_id=ada.id)

    assert caught.value.field == "requesterId"


async def test_unfollow_removes_follow_and_cancels_request_idempotently(
    users: UsersService, people: People, db: Database
) -> None:
    # given: ada follows bob and has a pending request to carl
    ada, bob = await people.new("ada"), await people.new("bob")
    carl = await people.new("carl", private=True)
    await users.follow(ada.actor, target_id=bob.id)
    await users.follow(ada.actor, target_id=carl.id)

    # when
    await users.unfollow(ada.actor, target_id=bob.id)
    await users.unfollow(ada.actor, target_id=bob.id)
    await users.unfollow(ada.actor, target_id=carl.id)

    # then
    assert await counts(db, bob.id) == (0, 0)
    assert await counts(db, ada.id) == (0, 0)
    assert await fetchval(db, "SELECT count(*) FROM follow_requests") == 0
    assert (await outbox_types(db)).count("Unfollowed") == 2


async def test_pending_request_turns_into_follow_once_the_account_is_public(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob", private=True)
    await users.follow(ada.actor, target_id=bob.id)
    await users.update_profile(bob.actor, is_private=False)

    # when
    state = await users.follow(ada.actor, target_id=bob.id)

    # then
    assert state is FollowState.FOLLOWING
    assert await fetchval(db, "SELECT count(*) FROM follow_requests") == 0
    assert await counts(db, bob.id) == (1, 0)


async def test_concurrent_follow_and_unfollow_keep_counters_exact(
    database_url: str,
    settings: Settings,
    cache: VersionedCache,
    people: People,
    db: Database,
    passwords: Passwords,
) -> None:
    # given: a pool that queues instead of shedding load, so every operation runs
    roomy = await Database.connect(
        database_url,
        policy=PoolPolicy(size=8, acquire_timeout=30, queue_ratio=100, reject_above=1.0),
    )
    users = UsersService(roomy, settings=settings, cache=cache, passwords=passwords)
    ada, bob = await people.new("ada"), await people.new("bob")
    rng = random.Random(7)
    ops = [rng.choice(["follow", "unfollow"]) for _ in range(40)]

    async def run(op: str) -> None:
        if op == "follow":
            await users.follow(ada.actor, target_id=bob.id)
        else:
            await users.unfollow(ada.actor, target_id=bob.id)

    # when: a storm of both intents, plus bob following ada at the same time (no deadlock)
    try:
        await asyncio.gather(
            *(run(op) for op in ops),
            *(users.follow(bob.actor, target_id=ada.id) for _ in range(5)),
        )
    finally:
        await roomy.close()

    # then: counters equal the rows, whatever the interleaving
    assert await counters_match(db)
    follows = await fetchval(db, "SELECT count(*) FROM follows WHERE follower_id = $1", ada.id)
    assert await counts(db, bob.id) == (follows, 1)

    # and the last intent wins
    users = people.users
    await users.follow(ada.actor, target_id=bob.id)
    assert await counts(db, bob.id) == (1, 1)
    await users.unfollow(ada.actor, target_id=bob.id)
    assert await counts(db, bob.id) == (0, 1)
    assert await counters_match(db)


async def test_follow_with_idempotency_key_replays_and_rejects_reuse(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob, carl = await people.new("ada"), await people.new("bob"), await people.new("carl")
    await users.follow(ada.actor, target_id=bob.id, idempotency_key="k1")
    await users.unfollow(ada.actor, target_id=bob.id)

    # when: the client retries the same request
    replay = await users.follow(ada.actor, target_id=bob.id, idempotency_key="k1")

    # then: the stored response comes back and nothing runs again
    assert replay is FollowState.FOLLOWING
    assert await counts(db, bob.id) == (0, 0)
    assert (await outbox_types(db)).count("Followed") == 1

    # and the key cannot be reused for another request
    with pytest.raises(errors.ConflictError) as caught:
        await users.follow(ada.actor, target_id=carl.id, idempotency_key="k1")
    assert caught.value.code is errors.ErrorCode.CONFLICT
    assert caught.value.field == "idempotencyKey"


async def test_concurrent_requests_with_one_idempotency_key_apply_once(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob")

    # when
    states = await asyncio.gather(
        *(users.follow(ada.actor, target_id=bob.id, idempotency_key="same") for _ in range(8))
    )

    # then
    assert set(states) == {FollowState.FOLLOWING}
    assert (await outbox_types(db)).count("Followed") == 1
    assert await fetchval(db, "SELECT count(*) FROM idempotency_keys") == 1


async def test_idempotency_key_length_is_bounded(users: UsersService, people: People) -> None:
    ada, bob = await people.new("ada"), await people.new("bob")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.follow(ada.actor, target_id=bob.id, idempotency_key="x" * 201)

    assert caught.value.field == "idempotencyKey"


async def test_failed_mutation_does_not_consume_its_idempotency_key(
    users: UsersService, people: People, db: Database
) -> None:
    # given: the first attempt fails (blocked), then the block is lifted
    ada, bob = await people.new("ada"), await people.new("bob")
    await users.block(bob.actor, target_id=ada.id)
    with pytest.raises(errors.PermissionDeniedError):
        await users.follow(ada.actor, target_id=bob.id, idempotency_key="retry-me")
    await users.unblock(bob.actor, target_id=ada.id)

    # when
    state = await users.follow(ada.actor, target_id=bob.id, idempotency_key="retry-me")

    # then
    assert state is FollowState.FOLLOWING
    assert await counts(db, bob.id) == (1, 0)


async def test_expired_idempotency_keys_are_purged_and_may_be_reused(
    users: UsersService, people: People, db: Database
) -> None:
    # given: a key stored two days ago
    ada, bob, carl = await people.new("ada"), await people.new("bob"), await people.new("carl")
    await users.follow(ada.actor, target_id=bob.id, idempotency_key="old")
    async with db.write() as conn:
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '2 days'")

        # when
        purged = await idempotency.purge_expired(conn, older_than=dt.timedelta(days=1))

    # then: the key is free for a new request
    assert purged == 1
    state = await users.follow(ada.actor, target_id=carl.id, idempotency_key="old")
    assert state is FollowState.FOLLOWING
