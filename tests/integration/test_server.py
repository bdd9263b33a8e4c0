"""The single-process composition: HTTP → gateway → services → outbox worker → timelines."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from nova import server

if TYPE_CHECKING:
    from nova.platform.config import Settings

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def _gql(http: httpx.AsyncClient, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]  # JSON object from the server


async def _register_and_login(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    data = await _gql(
        http,
        f'mutation {{ register(username: "{name}", email: "{name}@example.org", '
        f'password: "{PASSWORD}") {{ user {{ id }} errors {{ code }} }} }}',
    )
    assert data["register"]["errors"] == []
    login = await _gql(
        http,
        f'mutation {{ login(usernameOrEmail: "{name}", password: "{PASSWORD}") '
        "{ accessToken errors { code } } }",
    )
    return data["register"]["user"]["id"], login["login"]["accessToken"]


async def test_post_reaches_follower_feed_through_the_whole_stack(settings: Settings) -> None:
    config = uvicorn.Config(
        server.build(settings), host="127.0.0.1", port=0, lifespan="on", log_level="warning"
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    try:
        async with asyncio.timeout(20):
            while not uv.started:  # noqa: ASYNC110  # uvicorn exposes a flag, not an event
                await asyncio.sleep(0.01)
        port = uv.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            alice_id, alice = await _register_and_login(http, "alice")
            _, bob = await _register_and_login(http, "bob")
            follow = await _gql(
                http, f'mutation {{ follow(userId: "{alice_id}") {{ errors {{ code }} }} }}', bob
            )
            assert follow["follow"]["errors"] == []
            await _gql(http, "{ homeFeed(first: 5) { partial } }", bob)  # warms the timeline
            post = await _gql(
                http, 'mutation { createPost(body: "hello") { errors { code } } }', alice
            )
            assert post["createPost"]["errors"] == []

            feed: dict[str, Any] = {}
            for _ in range(200):  # the outbox worker fans out in the background
                data = await _gql(
                    http, "{ homeFeed(first: 5) { source edges { node { body } } } }", bob
                )
                feed = data["homeFeed"]
                if feed["edges"] and feed["source"] == "timeline":
                    break
                await asyncio.sleep(0.05)
            assert [e["node"]["body"] for e in feed["edges"]] == ["hello"]
            assert feed["source"] == "timeline"
            profile = await _gql(http, '{ user(username: "alice") { postCount } }')
            assert profile["user"]["postCount"] == 1
            assert (await http.get("/readyz")).status_code == 200
    finally:
        uv.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
