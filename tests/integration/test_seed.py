import pytest

from nova import seed
from nova.platform.db import Database

pytestmark = pytest.mark.integration


async def test_seed_counters_match_rows(db: Database) -> None:
    async with db.read() as conn:
        report = await seed.seed(conn, seed.SeedPlan(users=200, seed=7))
        mismatched = await conn.fetchval(
            """
            SELECT count(*) FROM users u
            WHERE follower_count <> (SELECT count(*) FROM follows WHERE followee_id = u.id)
               OR following_count <> (SELECT count(*) FROM follows WHERE follower_id = u.id)
               OR post_count <> (SELECT count(*) FROM posts WHERE author_id = u.id)
            """
        )
        likes_off = await conn.fetchval(
            "SELECT count(*) FROM posts p"
            " WHERE like_count <> (SELECT count(*) FROM likes WHERE post_id = p.id)"
        )
        rows = await conn.fetchval("SELECT count(*) FROM follows")
    assert report.users == 200
    assert rows == report.follows > 0
    assert mismatched == 0
    assert likes_off == 0
