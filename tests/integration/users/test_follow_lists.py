import datetime as dt
import uuid

import pytest

from nova.platform import errors
from nova.platform.db import Database
from nova.users import UsersService
from tests.integration.users._support import People

pytestmark = pytest.mark.integration


async def test_followers_pages_are_stable_while_new_follows_arrive(
    users: UsersService, people: People
) -> None:
    # given: 25 followers
    star = await people.new("star")
    fans = await people.many(25)
    for fan in fans:
        await users.follow(fan.actor, target_id=star.id)
    expected = [f.id for f in reversed(fans)]

    # when: paging 10 at a time while three new fans follow between pages
    seen: list[uuid.UUID] = []
    cursor = None
    pages = 0
    while True:
        page = await users.list_followers(star.actor, user_id=star.id, after=cursor, limit=10)
        seen += [u.id for u in page.items]
        pages += 1
        newcomer = await people.new()
        await users.follow(newcomer.actor, target_id=star.id)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    # then: every original follower exactly once, newest first, none of the newcomers
    assert seen == expected
    assert pages == 3


async def test_following_page_lists_newest_first(users: UsersService, people: People) -> None:
    # given
    ada = await people.new("ada")
    idols = await people.many(3)
    for idol in idols:
        await users.follow(ada.actor, target_id=idol.id)

    # when
    page = await users.list_following(ada.actor, user_id=ada.id, limit=2)
    rest = await users.list_following(ada.actor, user_id=ada.id, after=page.next_cursor)

    # then
    assert [u.id for u in page.items + rest.items] == [i.id for i in reversed(idols)]
    assert rest.next_cursor is None


async def test_private_account_connections_need_an_approved_follow(
    users: UsersService, people: People
) -> None:
    # given
    ada, bob = await people.new("ada"), await people.new("bob", private=True)

    # when / then: a stranger may not look
    with pytest.raises(errors.PermissionDeniedError) as caught:
        await users.list_followers(ada.actor, user_id=bob.id)
    assert caught.value.code is errors.ErrorCode.FORBIDDEN

    # an approved follower may
    await users.follow(ada.actor, target_id=bob.id)
    await users.approve_follow_request(bob.actor, requester_id=ada.id)
    page = await users.list_followers(ada.actor, user_id=bob.id)
    assert [u.id for u in page.items] == [ada.id]


async def test_blocked_viewer_cannot_list_connections(users: UsersService, people: People) -> None:
    ada, bob = await people.new("ada"), await people.new("bob")
    await users.block(bob.actor, target_id=ada.id)

    with pytest.raises(errors.PermissionDeniedError) as caught:
        await users.list_following(ada.actor, user_id=bob.id)

    assert caught.value.code is errors.ErrorCode.BLOCKED


@pytest.mark.parametrize("limit", [0, 101])
async def test_page_limit_is_bounded(users: UsersService, people: People, limit: int) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.list_followers(ada.actor, user_id=ada.id, limit=limit)

    assert caught.value.field == "limit"


@pytest.mark.parametrize("cursor", ["garbage", "eyJ2IjoyfQ", "e30"])
async def test_bad_cursor_is_an_input_error(
    users: UsersService, people: People, cursor: str
) -> None:
    ada = await people.new("ada")

    with pytest.raises(errors.InvalidInputError) as caught:
        await users.list_followers(ada.actor, user_id=ada.id, after=cursor)

    assert caught.value.field == "after"


async def test_followee_ids_and_follower_count(users: UsersService, people: People) -> None:
    # given
    ada, bob, carl = await people.new("ada"), await people.new("bob"), await people.new("carl")
    await users.follow(ada.actor, target_id=bob.id)
    await users.follow(ada.actor, target_id=carl.id)
    await users.follow(carl.actor, target_id=bob.id)

    # then
    assert set(await users.followee_ids(ada.actor, user_id=ada.id)) == {bob.id, carl.id}
    assert await users.follower_count(ada.actor, user_id=bob.id) == 2
    assert await users.follower_count(ada.actor, user_id=ada.id) == 0


async def test_active_follower_ids_pages_by_id_and_skips_inactive(
    users: UsersService, people: People, db: Database
) -> None:
    # given: 7 followers, 2 of them inactive for 90 days
    author = await people.new("author")
    fans = await people.many(7)
    for fan in fans:
        await users.follow(fan.actor, target_id=author.id)
    async with db.write() as conn:
        await conn.execute("UPDATE users SET last_active_at = now()")
        await conn.execute(
            "UPDATE users SET last_active_at = now() - interval '90 days' WHERE id = ANY($1)",
            [fans[1].id, fans[4].id],
        )
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)

    # when
    collected: list[uuid.UUID] = []
    after = None
    while batch := await users.active_follower_ids(
        author.actor, author_id=author.id, active_since=since, after=after, limit=2
    ):
        collected += batch
        after = batch[-1]

    # then
    active = sorted(f.id for i, f in enumerate(fans) if i not in (1, 4))
    assert collected == active


async def test_active_follower_scan_uses_an_index_without_sorting(db: Database) -> None:
    # given: the statement active_follower_ids runs, with sequential scans priced out
    async with db.write() as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await conn.fetch(
            """
            EXPLAIN SELECT f.follower_id FROM follows AS f JOIN users AS u ON u.id = f.follower_id
            WHERE f.followee_id = $1 AND f.follower_id > $2 AND u.last_active_at >= $3
            ORDER BY f.follower_id LIMIT 100
            """,
            uuid.uuid4(),
            uuid.UUID(int=0),
            dt.datetime.now(dt.UTC),
        )
    plan = "\n".join(r[0] for r in rows)

    # then: an index range scan in follower order, no sort of all followers
    assert "follows_followee_follower" in plan
    assert "Sort" not in plan
