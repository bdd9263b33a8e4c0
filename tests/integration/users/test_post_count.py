import pytest

from nova.platform.context import Actor
from nova.platform.ids import new_id
from nova.users.service import UsersService

from ._support import People

pytestmark = pytest.mark.integration


async def test_post_events_count_once_each(
    users: UsersService, people: People, anonymous: Actor
) -> None:
    author = await people.new()
    published, deleted = new_id(), new_id()

    await users.count_post_event(event_id=published, author_id=author.id, delta=1)
    await users.count_post_event(event_id=published, author_id=author.id, delta=1)  # redelivery
    assert (await users.get_user(anonymous, user_id=author.id)).post_count == 1

    await users.count_post_event(event_id=deleted, author_id=author.id, delta=-1)
    await users.count_post_event(event_id=deleted, author_id=author.id, delta=-1)
    assert (await users.get_user(anonymous, user_id=author.id)).post_count == 0
