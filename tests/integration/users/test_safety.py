import asyncio
import uuid

import pytest

from nova.platform import errors
from nova.platform.cache import VersionedCache
from nova.platform.config import Settings
from nova.platform.db import Database, PoolPolicy
from nova.users import CommentAudience, FeedMode, FollowState, Passwords, Preferences, UsersService
from tests.integration.users._support import People, counters_match, counts, fetchval, outbox_types

pytestmark = pytest.mark.integration


async def _version(db: Database, user_id: uuid.UUID) -> int:
    value = await fetchval(db, "SELECT version FROM relation_versions WHERE user_id = $1", user_id)
    return int(value or 0)


async def test_block_removes_follows_and_requests_both_ways_with_exact_counters(
    users: UsersService, people: People, db: Database
) -> None:
    # given: ada and bob follow each other; bob asked to follow carl (private), carl follows bob
    ada, bob = await people.new("ada"), await people.new("bob")
    carl = await people.new("carl", private=True)
    await users.follow(ada.actor, target_id=bob.id)
    await users.follow(bob.actor, target_id=ada.id)
    await users.follow(bob.actor, target_id=carl.id)
    await users.follow(carl.actor, target_id=bob.id)

    # when
    await users.block(ada.actor, target_id=bob.id)
    await users.block(carl.actor, target_id=bob.id)

    # then
    assert await fetchval(db, "SELECT count(*) FROM follows") == 0
    assert await fetchval(db, "SELECT count(*) FROM follow_requests") == 0
    assert await counts(db, bob.id) == (0, 0)
    assert await counters_match(db)
    assert (await outbox_types(db)).count("Blocked") == 2
    removed = await fetchval(
        db, "SELECT payload->>'removed_follows' FROM outbox WHERE event_type = 'Blocked' LIMIT 1"
    )
    assert removed == "2"


async def test_block_hides_both_directions_on_the_next_read(
    users: UsersService, people: People
) -> None:
    # given: both hidden sets are cached, empty
    ada, bob = await people.new("ada"), await people.new("bob")
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == frozenset()
    assert await users.hidden_author_ids(bob.actor, viewer_id=bob.id) == frozenset()

    # when
    await users.block(ada.actor, target_id=bob.id)

    # then
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == {bob.id}
    assert await users.hidden_author_ids(bob.actor, viewer_id=bob.id) == {ada.id}

    # and unblocking shows them again
    await users.unblock(ada.actor, target_id=bob.id)
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == frozenset()
    assert await users.hidden_author_ids(bob.actor, viewer_id=bob.id) == frozenset()


async def test_block_bumps_both_versions_and_is_idempotent(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob")

    # when
    await users.block(ada.actor, target_id=bob.id)
    await users.block(ada.actor, target_id=bob.id)

    # then: one change, so one bump each and one event
    assert (await _version(db, ada.id), await _version(db, bob.id)) == (1, 1)
    assert (await outbox_types(db)).count("Blocked") == 1


async def test_block_self_is_rejected(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.block(ada.actor, target_id=ada.id)

    assert caught.value.code is errors.ErrorCode.SELF_ACTION


async def test_block_with_idempotency_key_replays(
    users: UsersService, people: People, db: Database
) -> None:
    ada, bob = await people.new("ada"), await people.new("bob")

    await users.block(ada.actor, target_id=bob.id, idempotency_key="b1")
    await users.unblock(ada.actor, target_id=bob.id)
    await users.block(ada.actor, target_id=bob.id, idempotency_key="b1")

    assert await fetchval(db, "SELECT count(*) FROM blocks") == 0
    with pytest.raises(errors.ConflictError):
        await users.unblock(ada.actor, target_id=bob.id, idempotency_key="b1")


async def test_mute_hides_only_for_the_muter(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob")
    await users.hidden_author_ids(ada.actor, viewer_id=ada.id)

    # when
    await users.mute(ada.actor, target_id=bob.id)

    # then
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == {bob.id}
    assert await users.hidden_author_ids(bob.actor, viewer_id=bob.id) == frozenset()
    assert (await _version(db, ada.id), await _version(db, bob.id)) == (1, 0)

    # and unmute restores
    await users.unmute(ada.actor, target_id=bob.id)
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == frozenset()
    assert await outbox_types(db) == ["Muted", "Unmuted"]


async def test_mute_unknown_user_is_not_found(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.NotFoundError):
        await users.mute(ada.actor, target_id=uuid.uuid4())


async def test_relations_answers_a_batch_in_one_query(
    database_url: str,
    settings: Settings,
    cache: VersionedCache,
    people: People,
    passwords: Passwords,
) -> None:
    # given: a one-connection pool, warmed so asyncpg's one-off type introspection is done
    db = await Database.connect(database_url, policy=PoolPolicy(size=1))
    users = UsersService(db, settings=settings, cache=cache, passwords=passwords)
    ada, bob, carl, dan = [await people.new(n) for n in ("ada", "bob", "carl", "dan")]
    eve = await people.new("eve", private=True)
    await users.follow(ada.actor, target_id=bob.id)
    await users.follow(bob.actor, target_id=ada.id)
    await users.block(carl.actor, target_id=ada.id)
    await users.mute(ada.actor, target_id=dan.id)
    await users.follow(ada.actor, target_id=eve.id)
    await users.relations(ada.actor, viewer_id=ada.id, other_ids=[bob.id])
    before = db.stats.statements

    # when
    try:
        found = await users.relations(
            ada.actor, viewer_id=ada.id, other_ids=[bob.id, carl.id, dan.id, eve.id]
        )
    finally:
        await db.close()

    # then
    assert db.stats.statements - before == 1
    assert (found[bob.id].follow, found[bob.id].followed_by) == (FollowState.FOLLOWING, True)
    assert found[carl.id].blocked_by
    assert found[carl.id].blocked_either_way
    assert not found[carl.id].blocking
    assert found[dan.id].muting
    assert found[eve.id].follow is FollowState.REQUESTED


async def test_slow_cache_fill_cannot_resurrect_the_hidden_set_from_before_a_block(
    db: Database,
    settings: Settings,
    cache: VersionedCache,
    people: People,
    passwords: Passwords,
) -> None:
    # given: a reader that pauses after reading PostgreSQL, before it fills the cache
    read_done = asyncio.Event()
    may_fill = asyncio.Event()

    async def pause_after_read(viewer_id: uuid.UUID) -> None:
        if not read_done.is_set():
            read_done.set()
            await may_fill.wait()

    users = UsersService(
        db,
        settings=settings,
        cache=cache,
        passwords=passwords,
        on_hidden_loaded=pause_after_read,
    )
    ada, bob = await people.new("ada"), await people.new("bob")

    async def block_while_reader_is_paused() -> None:
        await read_done.wait()
        await users.block(bob.actor, target_id=ada.id)
        may_fill.set()

    # when: the slow reader read "nothing hidden" before the block committed
    stale, _ = await asyncio.gather(
        users.hidden_author_ids(ada.actor, viewer_id=ada.id), block_while_reader_is_paused()
    )

    # then: its own answer predates the block, but its fill was refused
    assert stale == frozenset()
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == {bob.id}
    assert await users.hidden_author_ids(ada.actor, viewer_id=ada.id) == {bob.id}
    assert cache.hits >= 1


async def test_hidden_set_is_served_from_cache_once_filled(
    users: UsersService, people: People, db: Database, cache: VersionedCache
) -> None:
    ada = await people.new("ada")
    await users.hidden_author_ids(ada.actor, viewer_id=ada.id)
    before = db.stats.statements

    await users.hidden_author_ids(ada.actor, viewer_id=ada.id)

    assert db.stats.statements == before
    assert cache.hits == 1


async def test_preferences_default_update_and_read_back_through_the_cache(
    users: UsersService, people: People, db: Database
) -> None:
    # given: defaults, cached
    ada = await people.new("ada")
    assert await users.get_preferences(ada.actor, user_id=ada.id) == Preferences()

    # when
    updated = await users.update_preferences(
        ada.actor, changes={"feed_mode": "chronological", "who_can_comment": "followers"}
    )
    await users.update_preferences(ada.actor, changes={"notify_on_follow": False})

    # then: the next read sees the change, merged with earlier ones
    assert updated.feed_mode is FeedMode.CHRONOLOGICAL
    current = await users.get_preferences(ada.actor, user_id=ada.id)
    assert current.who_can_comment is CommentAudience.FOLLOWERS
    assert current.feed_mode is FeedMode.CHRONOLOGICAL
    assert current.notify_on_follow is False
    assert await outbox_types(db) == ["PreferencesUpdated", "PreferencesUpdated"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"theme": "dark"}, "theme"),
        ({"feed_mode": "random"}, "feed_mode"),
        ({"who_can_comment": "friends"}, "who_can_comment"),
        ({"notify_on_follow": "yes"}, "notify_on_follow"),
        ({}, "preferences"),
    ],
)
async def test_update_preferences_validates_keys_and_values(
    users: UsersService, people: People, db: Database, changes: dict[str, object], field: str
) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.update_preferences(ada.actor, changes=changes)

    assert caught.value.code is errors.ErrorCode.INVALID_INPUT
    assert caught.value.field == field
    assert await fetchval(db, "SELECT count(*) FROM preferences") == 0
