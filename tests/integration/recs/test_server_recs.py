"""``recommendedFeed`` through the real HTTP app: sink → ClickHouse → precompute → GraphQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from nova.gateway import relay
from nova.platform.analytics import shared
from nova.recs.jobs import precompute_tenant
from nova.runtime import open_runtime
from tests.integration.serving import gql, serving, sign_up

if TYPE_CHECKING:
    import httpx
    import redis.asyncio as aioredis

    from nova.platform.analytics import ChdbClickHouse
    from nova.platform.config import Settings
    from nova.platform.embedded import EmbeddedClickHouse

pytestmark = pytest.mark.integration

FEED = (
    "{ recommendedFeed(first: 10) { source pageInfo { hasNextPage } "
    "edges { node { id body } reason { sources score parts { name value } } } } }"
)


async def _post(http: httpx.AsyncClient, body: str, token: str) -> str:
    data = await gql(
        http,
        f'mutation {{ createPost(body: "{body}") {{ post {{ id }} errors {{ code }} }} }}',
        token,
    )
    assert data["createPost"]["errors"] == []
    return str(data["createPost"]["post"]["id"])


async def _do(http: httpx.AsyncClient, mutation: str, token: str) -> None:
    data = await gql(http, f"mutation {{ {mutation} {{ errors {{ code }} }} }}", token)
    assert next(iter(data.values()))["errors"] == []


async def _wait_for_likes(ch: ChdbClickHouse, count: int) -> None:
    for _ in range(300):  # the sink consumer writes in the background
        rows = await ch.query("SELECT count() FROM engagement_events WHERE event_type = 'Liked'")
        if int(rows[0][0]) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the analytics sink did not record {count} likes")


async def _wait_for_recommendation_events(ch: ChdbClickHouse, count: int) -> list[list[Any]]:
    sql = (
        "SELECT event_type, user_id, post_id, position, feed_source, reason_sources,"
        " correlation_id FROM recommendation_events FINAL ORDER BY event_type, position"
    )
    for _ in range(300):  # relay and sink run in the background
        rows = await ch.query(sql)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"the analytics sink did not record {count} recommendation events")


async def test_recommended_feed_through_the_http_app(
    settings: Settings,
    chdb_engine: EmbeddedClickHouse,
    clickhouse: ChdbClickHouse,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings.model_copy(
        update={
            "clickhouse_url": SecretStr(chdb_engine.url),
            "recs_precompute_schedule": False,
            "recs_precompute_jitter_seconds": 0.0,
        }
    )
    path = chdb_engine.url.removeprefix("chdb://")
    async with serving(settings) as http:
        # One chdb session per process: the engine, /healthz and the runtime share it.
        health = (await http.get("/healthz")).json()
        assert health["checks"]["clickhouse"]["status"] == "ok", health
        assert shared.holders(path) >= 3

        alice_id, alice = await sign_up(http, "alice")
        bob_id, bob = await sign_up(http, "bob")
        carol_id, carol = await sign_up(http, "carol")
        await _do(http, f'follow(userId: "{alice_id}")', bob)
        await _do(http, f'follow(userId: "{carol_id}")', alice)
        alice_post = await _post(http, "from alice", alice)
        carol_post = await _post(http, "from carol", carol)
        await _do(http, f'likePost(postId: "{carol_post}")', alice)  # bob's friend engages
        await _do(http, f'likePost(postId: "{alice_post}")', bob)  # makes bob active
        await _wait_for_likes(clickhouse, 2)

        async with open_runtime(settings, run_worker=False) as runtime:
            report = await precompute_tenant(runtime.recs, settings.default_tenant, jitter=0)
            key = runtime.recs.service.key(
                settings.default_tenant, relay.from_global_id(bob_id, expected="User")
            )
        assert report.users >= 2
        assert report.failed == 0
        assert await redis_client.exists(key) == 1

        feed = (await gql(http, FEED, bob))["recommendedFeed"]
        assert feed["source"] == "RECOMMENDED"
        by_id = {e["node"]["id"]: e for e in feed["edges"]}
        assert carol_post in by_id
        assert alice_post not in by_id  # bob already liked it
        reason = by_id[carol_post]["reason"]
        assert "friends_engaged" in reason["sources"]
        assert reason["score"] == pytest.approx(sum(p["value"] for p in reason["parts"]))
        click = await gql(
            http,
            f'mutation {{ recordRecommendationClick(postId: "{carol_post}") '
            "{ recorded errors { code } } }",
            bob,
        )
        assert click["recordRecommendationClick"] == {"recorded": True, "errors": []}
        # The page's impressions and the click reach ClickHouse through outbox -> relay -> sink.
        rows = await _wait_for_recommendation_events(clickhouse, len(feed["edges"]) + 1)
        bob_uuid = str(relay.from_global_id(bob_id, expected="User"))
        carol_uuid = str(relay.from_global_id(carol_post, expected="Post"))
        impressions = [r for r in rows if r[0] == "RecommendationsServed"]
        assert len(impressions) == len(feed["edges"])
        assert {r[1] for r in rows} == {bob_uuid}
        assert all(r[4] == "RECOMMENDED" for r in impressions)
        assert sorted(r[3] for r in impressions) == list(range(len(feed["edges"])))
        carol_row = next(r for r in impressions if r[2] == carol_uuid)
        assert "friends_engaged" in carol_row[5]
        assert [r[2] for r in rows if r[0] == "RecommendationClicked"] == [carol_uuid]
        assert all(r[6] for r in rows)  # every row names its request's correlation id

        # ClickHouse failing on a cache miss: the chronological feed, and no error.
        async def failing(sql: str) -> list[list[Any]]:
            raise ConnectionError("ClickHouse is down")

        monkeypatch.setattr(shared.acquire(path), "query", failing)
        shared.release(path)
        await redis_client.delete(key)
        fallback = (await gql(http, FEED, bob))["recommendedFeed"]
        assert fallback["source"] == "CHRONOLOGICAL_FALLBACK"
        assert [e["node"]["body"] for e in fallback["edges"]] == ["from alice"]
        assert all(e["reason"] is None for e in fallback["edges"])
