from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from nova.recs.backfill import backfill
from tests.integration.feed.stack import TENANT

if TYPE_CHECKING:
    from nova.platform.analytics import ChdbClickHouse
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration


async def test_backfill_writes_posts_and_likes_once(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    author, fan = await stack.user(), await stack.user()
    liked = await stack.content.publish_post(author, body="liked")
    quiet = await stack.content.publish_post(author, body="quiet")
    await stack.content.like(fan, liked.id)
    async with stack.db.read(primary=True) as conn:
        report = await backfill(conn, clickhouse, TENANT)
        assert report.posts >= 2
        assert report.likes >= 1
        await backfill(conn, clickhouse, TENANT)  # the same rows again: collapsed by FINAL
    ids = f"'{liked.id}', '{quiet.id}'"
    where = f"FINAL WHERE post_id IN ({ids})"
    events = await clickhouse.query(
        f"SELECT post_id, event_type, user_id, author_id FROM engagement_events {where}"  # noqa: S608
    )
    assert sorted(map(tuple, events)) == sorted(
        [
            (str(liked.id), "Liked", str(fan.user_id), str(author.user_id)),
            (str(liked.id), "PostPublished", str(author.user_id), str(author.user_id)),
            (str(quiet.id), "PostPublished", str(author.user_id), str(author.user_id)),
        ]
    )
    candidates = await clickhouse.query(
        f"SELECT post_id, user_id, deleted FROM feed_candidates FINAL WHERE post_id IN ({ids})"  # noqa: S608  # uuids
    )
    assert sorted(map(tuple, candidates)) == sorted(
        [(str(liked.id), str(author.user_id), 0), (str(quiet.id), str(author.user_id), 0)]
    )
