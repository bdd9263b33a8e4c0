import uuid

import pytest

from nova.platform import errors
from nova.platform.cache import VersionedCache
from nova.platform.config import Settings
from nova.platform.db import Database, PoolPolicy
from nova.users import Passwords, Unset, UsersService
from tests.integration.users._support import People, fetchval, outbox_types

pytestmark = pytest.mark.integration


async def test_get_user_and_get_by_username(users: UsersService, people: People) -> None:
    ada = await people.new("Ada")

    assert (await users.get_user(ada.actor, user_id=ada.id)).username == "Ada"
    assert (await users.get_by_username(ada.actor, username="@ADA")).id == ada.id


async def test_unknown_user_is_not_found(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.NotFoundError) as by_id:
        await users.get_user(ada.actor, user_id=uuid.uuid4())
    with pytest.raises(errors.NotFoundError) as by_name:
        await users.get_by_username(ada.actor, username="nobody")

    assert by_id.value.code is by_name.value.code is errors.ErrorCode.NOT_FOUND


async def test_get_users_is_one_query(
    database_url: str,
    settings: Settings,
    cache: VersionedCache,
    people: People,
    passwords: Passwords,
) -> None:
    # given: a one-connection pool, warmed so asyncpg's one-off type introspection is done
    single = await Database.connect(database_url, policy=PoolPolicy(size=1))
    users = UsersService(single, settings=settings, cache=cache, passwords=passwords)
    crowd = await people.many(5)
    ids = [p.id for p in crowd] + [uuid.uuid4()]
    await users.get_users(crowd[0].actor, ids=ids)
    before = single.stats.statements

    # when
    try:
        found = await users.get_users(crowd[0].actor, ids=ids)
    finally:
        await single.close()

    # then
    assert single.stats.statements - before == 1
    assert set(found) == {p.id for p in crowd}


async def test_search_matches_prefix_case_insensitively_and_escapes_wildcards(
    users: UsersService, people: People
) -> None:
    # given
    for name in ("a_b1", "axb2", "A_Bc", "zed"):
        await people.new(name)
    ada = await people.new("ada")

    # when
    found = await users.search_users(ada.actor, prefix="a_", limit=10)
    limited = await users.search_users(ada.actor, prefix="A", limit=2)

    # then: "_" matched literally, not as "any character"
    assert [u.username for u in found] == ["a_b1", "A_Bc"]
    assert [u.username for u in limited] == ["a_b1", "A_Bc"]
    assert await users.search_users(ada.actor, prefix="%", limit=5) == []
    assert await users.search_users(ada.actor, prefix="@zE", limit=5) != []


async def test_search_uses_the_username_index_even_with_a_generic_plan(db: Database) -> None:
    # given: the search statement prepared and planned for unknown parameter values
    async with db.write() as conn:
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute(
            """
            PREPARE search (text, text, text, text, int) AS
            SELECT id FROM users
            WHERE tenant_id = $1
              AND lower(username) ~>=~ $2 AND lower(username) ~<~ $3
              AND lower(username) LIKE $4 ESCAPE '\\'
            ORDER BY lower(username) USING ~<~
            LIMIT $5
            """
        )
        rows = await conn.fetch("EXPLAIN EXECUTE search ('default', 'ad', 'ae', 'ad%', 10)")
        await conn.execute("DEALLOCATE search")
    plan = "\n".join(r[0] for r in rows)

    # then: bounded by the index and already in order (no sort of every match)
    assert "users_tenant_username_key" in plan
    assert "Index Cond" in plan
    assert "$2" in plan
    assert "Sort" not in plan


async def test_search_limit_is_bounded(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.search_users(ada.actor, prefix="a", limit=51)

    assert caught.value.field == "limit"


async def test_update_profile_changes_only_given_fields_and_emits_event(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada = await people.new("ada")

    # when
    user = await users.update_profile(ada.actor, bio="  Counting engines.  ", is_private=True)

    # then
    assert (user.bio, user.is_private, user.display_name) == ("Counting engines.", True, "Ada")
    assert await outbox_types(db) == ["ProfileUpdated"]
    fields = await fetchval(db, "SELECT payload->'fields' FROM outbox")
    assert fields == '["bio", "is_private"]'


async def test_update_profile_clears_avatar_with_none(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    user = await users.update_profile(ada.actor, avatar_media_id=None)

    assert user.avatar_media_id is None


async def test_update_profile_rejects_unknown_avatar(users: UsersService, people: People) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.NotFoundError) as caught:
        await users.update_profile(ada.actor, avatar_media_id=uuid.uuid4())

    assert caught.value.field == "avatarMediaId"


@pytest.mark.parametrize(
    ("changes", "field"),
    [({}, "profile"), ({"bio": "x" * 501}, "bio"), ({"display_name": "x" * 101}, "displayName")],
)
async def test_update_profile_validates(
    users: UsersService, people: People, changes: dict[str, str], field: str
) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.update_profile(
            ada.actor,
            bio=changes.get("bio", Unset.UNSET),
            display_name=changes.get("display_name", Unset.UNSET),
        )

    assert caught.value.field == field


async def test_anonymous_caller_cannot_edit_a_profile(users: UsersService, people: People) -> None:
    from nova.platform.context import Actor

    with pytest.raises(errors.UnauthenticatedError):
        await users.update_profile(Actor.anonymous(tenant_id="default"), bio="hi")


async def test_touch_last_active_writes_at_most_once_a_minute(
    users: UsersService, people: People, db: Database
) -> None:
    # given
    ada = await people.new("ada")

    # when
    await users.touch_last_active(ada.actor)
    first = await fetchval(db, "SELECT last_active_at FROM users WHERE id = $1", ada.id)
    before = db.stats.statements
    await users.touch_last_active(ada.actor)

    # then: the second touch is answered from memory, no round trip
    assert first is not None
    assert db.stats.statements == before


async def test_touch_last_active_sql_guard_skips_recent_rows(
    users: UsersService, people: People, db: Database
) -> None:
    # given: another process touched ada just now
    ada = await people.new("ada")
    async with db.write() as conn:
        await conn.execute("UPDATE users SET last_active_at = now() - interval '10 seconds'")
    before = await fetchval(db, "SELECT last_active_at FROM users WHERE id = $1", ada.id)

    # when: this process (empty memo) touches
    await users.touch_last_active(ada.actor)

    # then: the row was not rewritten
    assert await fetchval(db, "SELECT last_active_at FROM users WHERE id = $1", ada.id) == before
