"""The single-process composition: HTTP → gateway → services → outbox worker → timelines."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from tests.integration.serving import gql, serving, sign_up

if TYPE_CHECKING:
    from nova.platform.config import Settings

pytestmark = pytest.mark.integration


async def test_post_reaches_follower_feed_through_the_whole_stack(settings: Settings) -> None:
    async with serving(settings) as http:
        alice_id, alice = await sign_up(http, "alice")
        _, bob = await sign_up(http, "bob")
        follow = await gql(
            http, f'mutation {{ follow(userId: "{alice_id}") {{ errors {{ code }} }} }}', bob
        )
        assert follow["follow"]["errors"] == []
        await gql(http, "{ homeFeed(first: 5) { partial } }", bob)  # warms the timeline
        post = await gql(http, 'mutation { createPost(body: "hello") { errors { code } } }', alice)
        assert post["createPost"]["errors"] == []

        feed: dict[str, Any] = {}
        for _ in range(200):  # the outbox worker fans out in the background
            data = await gql(http, "{ homeFeed(first: 5) { source edges { node { body } } } }", bob)
            feed = data["homeFeed"]
            if feed["edges"] and feed["source"] == "timeline":
                break
            await asyncio.sleep(0.05)
        assert [e["node"]["body"] for e in feed["edges"]] == ["hello"]
        assert feed["source"] == "timeline"
        profile = await gql(http, '{ user(username: "alice") { postCount } }')
        assert profile["user"]["postCount"] == 1
        assert (await http.get("/readyz")).status_code == 200
