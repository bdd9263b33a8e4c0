"""Recommended cursors carry their list's generation: a replaced list restarts the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.recs import RecsSource, _lists
from tests.integration.feed.stack import uid
from tests.integration.recs.test_recs import published, service
from tests.integration.recs.test_seen import shown

if TYPE_CHECKING:
    import uuid

    from nova.content.client import Post
    from nova.platform.analytics import ChdbClickHouse
    from nova.platform.context import Actor
    from nova.recs import RecsPage, RecsService
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration


async def six_followed_posts(stack: Stack, clickhouse: ChdbClickHouse) -> Actor:
    """A viewer who follows six authors with one post each: a list of six, one per author."""
    viewer = await stack.user()
    for n in range(6):
        author = await stack.user()
        await stack.follow(viewer, author)
        await published(clickhouse, await stack.content.publish_post(author, body=f"post {n}"))
    await stack.drain()
    return viewer


async def stored(stack: Stack, recs: RecsService, viewer: Actor) -> _lists.StoredList:
    """The viewer's list as it is in Redis now."""
    raw = await stack.redis.get(recs.key("default", uid(viewer)))
    assert raw is not None
    return _lists.StoredList(raw)


def post_ids(ranked: _lists.StoredList) -> list[uuid.UUID]:
    return [r.post_id for r in ranked[:]]


def served(page: RecsPage[Post]) -> list[uuid.UUID]:
    assert page.source is RecsSource.RECOMMENDED
    return [item.post.id for item in page.items]


async def test_a_cursor_into_a_replaced_list_starts_at_the_top_of_the_new_one(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: the viewer's stored list A of six posts, whose first page showed two
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    a = post_ids(await stored(stack, recs, viewer))
    assert len(a) == 6
    first = await recs.recommended_feed(viewer, first=2)
    assert served(first) == a[:2]

    # when: page 1's impressions reach ClickHouse and the precompute replaces A by B, which
    # lacks what page 1 showed
    for item in first.items:
        await shown(clickhouse, item.post, viewer)
    await recs.precompute(viewer)
    b = post_ids(await stored(stack, recs, viewer))
    assert b == a[2:]
    second = await recs.recommended_feed(viewer, first=2, after=first.next_cursor)

    # then: page 2 starts at the top of B, not at B[2] (which skipped a[2] and a[3])
    assert served(second) == b[:2] == a[2:4]
    assert recs.counts["cursor_restarted"] == 1

    # and: the rest continues in B; every post of A was served once, none skipped
    third = await recs.recommended_feed(viewer, first=2, after=second.next_cursor)
    assert served(third) == a[4:]
    assert third.next_cursor is None
    assert recs.counts["cursor_restarted"] == 1


async def test_a_cursor_restarts_in_any_other_list_stored_for_the_viewer(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: page 1 of list A
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    first = await recs.recommended_feed(viewer, first=2)

    # when: another list B (A reversed) is stored in its place through the lists' format
    b = list(reversed((await stored(stack, recs, viewer))[:]))
    await stack.redis.set(recs.key("default", uid(viewer)), _lists.dump(b), ex=60)
    second = await recs.recommended_feed(viewer, first=2, after=first.next_cursor)

    # then: page 2 is B's first page
    assert served(second) == [r.post_id for r in b[:2]]
    assert second.next_cursor == f"r:{(await stored(stack, recs, viewer)).generation}:2"


async def test_a_cursor_into_the_same_list_continues_at_its_offset(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: page 1 of list A
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    a = await stored(stack, recs, viewer)
    first = await recs.recommended_feed(viewer, first=2)
    assert first.next_cursor == f"r:{a.generation}:2"

    # when: page 2 follows
    second = await recs.recommended_feed(viewer, first=2, after=first.next_cursor)

    # then: it continues at the offset
    assert served(second) == post_ids(a)[2:4]

    # when: the precompute runs again before the impressions reach ClickHouse: the same posts
    # in the same order (the scores may differ), so the same generation
    await recs.precompute(viewer)
    assert (await stored(stack, recs, viewer)).generation == a.generation
    third = await recs.recommended_feed(viewer, first=2, after=second.next_cursor)

    # then: page 3 still continues at its offset: nothing shown twice
    assert served(third) == post_ids(a)[4:]
    assert third.next_cursor is None
    assert recs.counts["cursor_restarted"] == 0
    assert recs.counts["computed"] == 2  # the two precomputes; every page read Redis


async def test_a_list_recomputed_on_a_miss_restarts_the_cursor_then_keeps_its_offsets(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: page 1 of list A has been shown, and A has expired
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    a = post_ids(await stored(stack, recs, viewer))
    first = await recs.recommended_feed(viewer, first=2)
    for item in first.items:
        await shown(clickhouse, item.post, viewer)
    await stack.redis.delete(recs.key("default", uid(viewer)))

    # when: page 2 is asked for (a miss: the list is computed and stored), then page 3
    second = await recs.recommended_feed(viewer, first=2, after=first.next_cursor)
    third = await recs.recommended_feed(viewer, first=2, after=second.next_cursor)

    # then: page 2 is the top of the new list, and page 3 (read back from Redis) continues it:
    # the list served on the miss has the generation of the one stored
    assert served(second) == a[2:4]
    assert served(third) == a[4:]
    assert recs.counts["computed"] == 2
    assert recs.counts["cursor_restarted"] == 1


async def test_a_cursor_from_before_generations_continues_at_its_offset(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: the viewer's stored list
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    a = await stored(stack, recs, viewer)

    # when: a page is asked for with an r:<offset> cursor (issued by the previous version)
    page = await recs.recommended_feed(viewer, first=2, after="r:2")

    # then: it continues at that offset (generation unknown: as before), and hands out a
    # cursor with the generation
    assert served(page) == post_ids(a)[2:4]
    assert page.next_cursor == f"r:{a.generation}:4"
    assert recs.counts["cursor_restarted"] == 0


@pytest.mark.parametrize(
    "after",
    ["r:", "r:-2", "r:x", "r:1.5", "r::2", "r:AAAAAAAA:", "r:AAAAAAAA:-1", "r:AAAA:2", "x:2", "2"],
)
async def test_a_garbage_cursor_is_invalid_input_on_after(
    stack: Stack, clickhouse: ChdbClickHouse, after: str
) -> None:
    # given: the viewer's stored list
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)

    # when / then
    with pytest.raises(errors.InvalidInputError) as caught:
        await recs.recommended_feed(viewer, first=2, after=after)
    assert caught.value.code is errors.ErrorCode.INVALID_INPUT
    assert caught.value.field == "after"


async def test_a_cursor_with_a_well_formed_unknown_generation_starts_at_the_top(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: the viewer's stored list
    viewer = await six_followed_posts(stack, clickhouse)
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    a = await stored(stack, recs, viewer)
    other = "A" * 8 if a.generation != "A" * 8 else "B" * 8

    # when: the cursor names a generation no longer stored
    page = await recs.recommended_feed(viewer, first=2, after=f"r:{other}:4")

    # then: it is not an error: the page is the top of the stored list
    assert served(page) == post_ids(a)[:2]
