"""Already-seen posts: left out of a viewer's list when it is computed, not from a stored one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import pytest

from nova.recs import RecsSource
from nova.recs import events as recs_events
from tests.integration.feed.stack import uid
from tests.integration.recs.test_recs import _ts, liked, published, service, world

if TYPE_CHECKING:
    from nova.content.client import Post
    from nova.platform.analytics import ChdbClickHouse, ClickHouse
    from nova.platform.context import Actor
    from nova.recs import RecsService
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration


async def shown(
    ch: ClickHouse,
    post: Post,
    viewer: Actor,
    *,
    ago: dt.timedelta = dt.timedelta(0),
    event_type: str = recs_events.SERVED,
) -> None:
    """The ``recommendation_events`` row the analytics sink writes for one item of a served
    page (``RecommendationsServed``) or for a click (``RecommendationClicked``)."""
    await ch.insert(
        "recommendation_events",
        [
            {
                "event_id": str(uuid.uuid4()),
                "tenant_id": post.tenant_id,
                "event_type": event_type,
                "user_id": str(uid(viewer)),
                "post_id": str(post.id),
                "author_id": str(post.author_id),
                "position": 0,
                "feed_source": "RECOMMENDED",
                "reason_sources": ["trending"],
                "score": 1.0,
                "occurred_at": _ts(dt.datetime.now(dt.UTC) - ago),
            }
        ],
    )


async def ids(recs: RecsService, viewer: Actor) -> list[uuid.UUID]:
    """The post ids of the viewer's first recommended page (served from the stored list)."""
    page = await recs.recommended_feed(viewer, first=20)
    assert page.source is RecsSource.RECOMMENDED
    return [item.post.id for item in page.items]


async def test_a_post_the_viewer_was_shown_is_left_out_of_their_next_list(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: the viewer's list ranks the stranger's post P first, then three followed posts;
    # another viewer, who follows the friend too, is recommended P
    w = await world(stack, clickhouse)
    viewer, shown_post = w["viewer"], w["strangers_post"]
    other = await stack.user()
    await stack.follow(other, w["friend"])
    for _ in range(2):
        author = await stack.user()
        await stack.follow(viewer, author)
        await published(clickhouse, await stack.content.publish_post(author, body="followed"))
    await stack.drain()
    everything = [r.post_id for r in await service(stack, clickhouse).compute(viewer)]
    assert everything[0] == shown_post.id
    assert len(everything) == 4

    # when: a page showed P to the viewer (the sink's impression row), and the lists are
    # precomputed with the default lookback
    await shown(clickhouse, shown_post, viewer)
    recs = service(stack, clickhouse)
    assert await recs.precompute_active([uid(viewer), uid(other)], tenant_id="default") == (2, 0)

    # then: P is gone from the viewer's list only, and the rest keeps its order
    assert await ids(recs, viewer) == everything[1:]
    assert shown_post.id in await ids(recs, other)
    assert recs.counts["clickhouse_queries"] == 2  # one per list: no extra "seen" query

    # when: the lookback is 0
    again = service(stack, clickhouse, recs_seen_lookback_hours=0)
    assert await again.precompute_active([uid(viewer)], tenant_id="default") == (1, 0)

    # then: P is recommended again, where it was
    assert await ids(again, viewer) == everything


async def test_a_stored_list_keeps_the_posts_it_showed_until_it_is_recomputed(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: the viewer's stored list, whose first page showed P
    w = await world(stack, clickhouse)
    viewer, shown_post = w["viewer"], w["strangers_post"]
    recs = service(stack, clickhouse)
    await recs.precompute(viewer)
    first = await ids(recs, viewer)
    assert first[0] == shown_post.id
    await shown(clickhouse, shown_post, viewer)

    # when: the viewer reads the list again before it is recomputed
    # then: it is unchanged (cursors into it stay valid)
    assert await ids(recs, viewer) == first
    assert recs.counts["computed"] == 1

    # when: the precompute runs again
    await recs.precompute(viewer)

    # then: P is left out
    assert await ids(recs, viewer) == first[1:]


async def test_a_clicked_post_stays_left_out_and_old_impressions_expire(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: the viewer clicked P an hour ago, and was shown Q four days ago (lookback: 3 days)
    w = await world(stack, clickhouse)
    viewer, clicked, old = w["viewer"], w["strangers_post"], w["friends_post"]
    await shown(
        clickhouse, clicked, viewer, ago=dt.timedelta(hours=1), event_type=recs_events.CLICKED
    )
    await shown(clickhouse, old, viewer, ago=dt.timedelta(hours=96))

    # when: the list is computed
    recs = service(stack, clickhouse, recs_seen_lookback_hours=72)
    ranked = [r.post_id for r in await recs.compute(viewer)]

    # then: the clicked post stays out (it was seen); the one shown before the lookback is back
    assert ranked == [old.id]


async def test_a_seen_post_frees_its_slot_in_the_source_for_the_next_best(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    # given: trending proposes one post per viewer; P (two likes) outranks Q (one), and the
    # viewer (who follows and engages with nobody) was shown P
    viewer, bystander, author, fan, other_fan = [await stack.user() for _ in range(5)]
    p = await stack.content.publish_post(author, body="P")
    q = await stack.content.publish_post(author, body="Q")
    for post in (p, q):
        await published(clickhouse, post)
    await liked(clickhouse, p, fan)
    await liked(clickhouse, p, other_fan)
    await liked(clickhouse, q, fan)
    await stack.drain()
    await shown(clickhouse, p, viewer)
    recs = service(stack, clickhouse, recs_candidates_per_source=1)

    # when: the viewer's list is computed
    ranked = [r.post_id for r in await recs.compute(viewer)]

    # then: Q takes P's place rather than the list shrinking to nothing
    assert ranked == [q.id]
    assert [r.post_id for r in await recs.compute(bystander)] == [p.id]  # not seen by them
