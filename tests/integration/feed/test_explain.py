"""Every hot query is served by an index on realistic table sizes: no Seq Scan on a big table.

The SQL is the stores' own: content and feed statements are imported constants; users-store
functions build their SQL inline, so they are called with a recording connection and the
statement they would send is explained with the arguments they would bind.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import TYPE_CHECKING, Any, cast

import asyncpg
import pytest

from nova.content import store as content_store
from nova.feed import store as feed_store
from nova.platform.ids import new_id
from nova.users.store import graph as users_graph
from tests.integration.feed import seed

if TYPE_CHECKING:
    from nova.platform.db import Database

pytestmark = pytest.mark.integration

BIG_TABLES = {"users", "follows", "posts", "likes", "comments"}
USERS = 100_000
POSTS = 200_000
LIKES = 150_000
COMMENTS = 100_000


class RecordingConnection:
    """Stands in for a connection: records statements instead of running them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        self.calls.append((query, args))
        return []

    async def fetchrow(self, query: str, *args: Any) -> None:
        self.calls.append((query, args))

    async def fetchval(self, query: str, *args: Any) -> None:
        self.calls.append((query, args))


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in BIG_TABLES:
        found.append(str(plan["Relation Name"]))
    for child in plan.get("Plans", []):
        found.extend(seq_scans(child))
    return found


async def explain(conn: asyncpg.Connection, query: str, *args: Any) -> dict[str, Any]:
    raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + query, *args)
    plan: dict[str, Any] = json.loads(raw)[0]["Plan"]
    return plan


async def load(conn: asyncpg.Connection) -> dict[str, Any]:
    rng = random.Random(7)
    users = await seed.copy_users(conn, USERS, prefix="x")
    celebrity, heavy = users[0], users[1]
    # Everyone follows three random users and the celebrity's followers are many; the heavy
    # reader follows 500 accounts (a large home-feed rebuild).
    pairs = {(u, users[rng.randrange(2, USERS)]) for u in users[2:]}
    pairs |= {(u, celebrity) for u in users[2:20_000]}
    pairs |= {(heavy, users[i]) for i in range(2, 502)}
    pairs = {(a, b) for a, b in pairs if a != b}
    await conn.copy_records_to_table(
        "follows",
        columns=["tenant_id", "follower_id", "followee_id"],
        records=[("default", a, b) for a, b in pairs],
    )
    authors = [users[rng.randrange(USERS)] for _ in range(POSTS)]
    posts = [new_id() for _ in range(POSTS)]
    await conn.copy_records_to_table(
        "posts",
        columns=["id", "tenant_id", "author_id", "body", "visibility"],
        records=[(p, "default", a, "b", "public") for p, a in zip(posts, authors, strict=True)],
    )
    likes = {(posts[rng.randrange(POSTS)], users[rng.randrange(USERS)]) for _ in range(LIKES)}
    await conn.copy_records_to_table(
        "likes",
        columns=["tenant_id", "post_id", "user_id"],
        records=[("default", p, u) for p, u in likes],
    )
    await conn.copy_records_to_table(
        "comments",
        columns=["id", "tenant_id", "post_id", "author_id", "body"],
        records=[
            (new_id(), "default", posts[rng.randrange(POSTS)], users[rng.randrange(USERS)], "c")
            for _ in range(COMMENTS)
        ],
    )
    await conn.execute("ANALYZE")
    return {"users": users, "posts": posts, "celebrity": celebrity, "heavy": heavy}


async def recorded(call: Any) -> tuple[str, tuple[Any, ...]]:
    conn = RecordingConnection()
    await call(cast("asyncpg.Connection", conn))
    assert len(conn.calls) == 1
    return conn.calls[0]


async def test_hot_queries_use_indexes(db: Database, database_url: str) -> None:
    # A plain connection: bulk loading outlasts the pool's per-statement timeout.
    loader = await asyncpg.connect(database_url)
    try:
        data = await load(loader)
    finally:
        await loader.close()
    users, posts = data["users"], data["posts"]
    celebrity, heavy = data["celebrity"], data["heavy"]
    followees = users[2:502]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    page_of_posts = posts[-50:]
    queries: dict[str, tuple[str, tuple[Any, ...]]] = {
        "timeline rebuild": (
            feed_store.RECENT_POSTS_OF_AUTHORS,
            ([heavy, *followees], feed_store.MAX_ID, 800, heavy),
        ),
        "pulled posts of high-follower authors": (
            feed_store.RECENT_POSTS_OF_AUTHORS,
            ([celebrity, users[3]], posts[-1], 50, heavy),
        ),
        "author's recent posts (unfollow, block)": (
            feed_store.AUTHOR_RECENT_POSTS,
            (users[5], 800),
        ),
        "user timeline": (
            content_store.USER_POSTS_PAGE,
            (users[5], content_store.MAX_ID, ["public", "followers"], 20),
        ),
        "post hydration": (content_store.POSTS_BY_IDS, (page_of_posts,)),
        "like check": (content_store.LIKED_BY_VIEWER, (users[7], page_of_posts)),
        "comments page": (
            content_store.COMMENTS_PAGE,
            (posts[123], content_store.MIN_ID, [users[9]], 20),
        ),
        "followers page": await recorded(
            lambda c: users_graph.list_edges(
                c, "followers", owner_id=celebrity, after=None, limit=20
            )
        ),
        "following page": await recorded(
            lambda c: users_graph.list_edges(c, "following", owner_id=heavy, after=None, limit=20)
        ),
        "followee ids": await recorded(
            lambda c: users_graph.followee_ids(c, user_id=heavy, limit=5000)
        ),
        "active followers (fan-out)": await recorded(
            lambda c: users_graph.active_follower_ids(
                c, author_id=celebrity, active_since=since, after=None, limit=1000
            )
        ),
    }
    failures = {}
    async with db.read() as conn:
        for name, (query, args) in queries.items():
            plan = await explain(conn, query, *args)
            if scans := seq_scans(plan):
                failures[name] = (scans, json.dumps(plan)[:2000])
    assert failures == {}


def test_recording_connection_records() -> None:
    conn = RecordingConnection()
    assert conn.calls == []
    assert seq_scans({"Node Type": "Seq Scan", "Relation Name": "posts"}) == ["posts"]
    assert seq_scans({"Node Type": "Seq Scan", "Relation Name": "tenants"}) == []
    assert uuid.UUID(int=0) == content_store.MIN_ID
