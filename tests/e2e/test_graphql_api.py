"""The GraphQL API over real HTTP: uvicorn on a loopback port, real PostgreSQL and Redis.

One scenario walks every query and mutation the way an app would: register, log in, post,
follow, read the feed, page through lists, hit typed errors, refresh and log out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
import pytest_asyncio
import uvicorn

from tests.integration.gateway.stack import PASSWORD, GatewayStack, build_gateway

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database

pytestmark = pytest.mark.e2e


@pytest_asyncio.fixture(loop_scope="session")
async def server(
    db: Database, redis_client: aioredis.Redis, settings: Settings
) -> AsyncIterator[tuple[GatewayStack, str]]:
    """uvicorn serving the gateway on a free loopback port, stopped after the test."""
    gateway = build_gateway(db=db, redis=redis_client, settings=settings)
    config = uvicorn.Config(
        gateway.app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    try:
        async with asyncio.timeout(10):
            while not uv.started:  # noqa: ASYNC110  # uvicorn exposes a flag, not an event
                await asyncio.sleep(0.01)
        port = uv.servers[0].sockets[0].getsockname()[1]
        yield gateway, f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Api:
    """A tiny GraphQL client over httpx."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.token: str | None = None

    async def call(self, query: str, **variables: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.call(query, **variables)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


async def _signed_up(http: httpx.AsyncClient, username: str) -> Api:
    api = Api(http)
    registered = await api.data(
        """mutation($u: String!, $e: String!, $p: String!) {
          register(username: $u, email: $e, password: $p) { user { id } errors { code } } }""",
        u=username,
        e=f"{username}@example.com",
        p=PASSWORD,
    )
    assert registered["register"]["errors"] == []
    login = await api.data(
        """mutation($u: String!, $p: String!) { login(usernameOrEmail: $u, password: $p) {
          accessToken refreshToken errors { code } } }""",
        u=username,
        p=PASSWORD,
    )
    api.token = login["login"]["accessToken"]
    return api


async def test_every_query_and_mutation_over_http(server: tuple[GatewayStack, str]) -> None:
    gateway, base = server
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        health = await http.get("/graphql", headers={"Accept": "text/html"})
        assert "graphiql" in health.text.lower()
        ada, bob = await _signed_up(http, "ada_e2e"), await _signed_up(http, "bob_e2e")
        me = await ada.data("{ viewer { user { id username } preferences { whoCanComment } } }")
        ada_id = me["viewer"]["user"]["id"]
        bob_id = (await bob.data("{ viewer { user { id } } }"))["viewer"]["user"]["id"]

        # profile, preferences, search
        await ada.data('mutation { updateProfile(displayName: "Ada L") { errors { code } } }')
        await ada.data(
            "mutation { updatePreferences(whoCanComment: FOLLOWERS) { errors { code } } }"
        )
        found = await bob.data('{ searchUsers(prefix: "ada_") { username displayName } }')
        assert found["searchUsers"] == [{"username": "ada_e2e", "displayName": "Ada L"}]

        # follow, post, feed
        follow = """mutation($u: ID!) { follow(userId: $u, idempotencyKey: "f1") {
          state errors { code } } }"""
        assert (await bob.data(follow, u=ada_id))["follow"]["state"] == "FOLLOWING"
        post_ids = []
        for i in range(3):
            made = await ada.data(
                "mutation($b: String!) { createPost(body: $b) { post { id } errors { code } } }",
                b=f"post {i}",
            )
            post_ids.append(made["createPost"]["post"]["id"])
        await gateway.stack.drain()
        feed_query = """query($n: Int!, $a: String) {
          homeFeed(first: $n, after: $a) { partial source
          edges { cursor node { id body author { username } viewerHasLiked likeCount } }
          pageInfo { hasNextPage endCursor } } }"""
        page1 = (await bob.data(feed_query, n=2, a=None))["homeFeed"]
        assert [e["node"]["body"] for e in page1["edges"]] == ["post 2", "post 1"]
        assert page1["pageInfo"]["hasNextPage"] is True
        page2 = (await bob.data(feed_query, n=2, a=page1["pageInfo"]["endCursor"]))["homeFeed"]
        assert [e["node"]["body"] for e in page2["edges"]] == ["post 0"]
        assert isinstance(page1["partial"], bool)

        # likes, comments, edits, reads
        like = "mutation($p: ID!) { likePost(postId: $p) { likeCount errors { code } } }"
        assert (await bob.data(like, p=post_ids[0]))["likePost"]["likeCount"] == 1
        await bob.data("mutation($p: ID!) { unlikePost(postId: $p) { likeCount } }", p=post_ids[0])
        comment = """mutation($p: ID!) { addComment(postId: $p, body: "great") {
          comment { id } errors { code } } }"""
        comment_id = (await bob.data(comment, p=post_ids[0]))["addComment"]["comment"]["id"]
        comments = await bob.data(
            "query($p: ID!) { comments(postId: $p) {"
            " edges { node { body author { username } } } } }",
            p=post_ids[0],
        )
        assert comments["comments"]["edges"] == [
            {"node": {"body": "great", "author": {"username": "bob_e2e"}}}
        ]
        await bob.data(
            "mutation($c: ID!) { deleteComment(id: $c) { errors { code } } }", c=comment_id
        )
        await ada.data(
            'mutation($p: ID!) { editPost(id: $p, body: "edited") { errors { code } } }',
            p=post_ids[1],
        )
        post = await bob.data("query($p: ID!) { post(id: $p) { body editedAt } }", p=post_ids[1])
        assert post["post"]["body"] == "edited"
        node = await bob.data(
            "query($p: ID!) { node(id: $p) { ... on User { username } } }", p=ada_id
        )
        assert node["node"] == {"username": "ada_e2e"}
        user_posts = await bob.data(
            "query($u: ID!) { userPosts(userId: $u, first: 2) {"
            " edges { node { body } } pageInfo { hasNextPage } } }",
            u=ada_id,
        )
        assert user_posts["userPosts"]["pageInfo"]["hasNextPage"] is True
        followers = await bob.data(
            "query($u: ID!) { followers(userId: $u) { edges { node { username } } } }", u=ada_id
        )
        assert followers["followers"]["edges"] == [{"node": {"username": "bob_e2e"}}]
        following = await bob.data(
            "query($u: ID!) { following(userId: $u) { edges { node { username } } } }", u=bob_id
        )
        assert following["following"]["edges"] == [{"node": {"username": "ada_e2e"}}]
        await ada.data(
            "mutation($p: ID!) { deletePost(id: $p) { errors { code } } }", p=post_ids[2]
        )

        # requests on a private account
        await bob.data("mutation { updateProfile(isPrivate: true) { errors { code } } }")
        assert (await ada.data(follow.replace('"f1"', '"f2"'), u=bob_id))["follow"][
            "state"
        ] == "REQUESTED"
        requests = await bob.data("{ followRequests { edges { node { username } } } }")
        assert requests["followRequests"]["edges"] == [{"node": {"username": "ada_e2e"}}]
        await bob.data(
            "mutation($u: ID!) { rejectFollowRequest(userId: $u) { errors { code } } }", u=ada_id
        )
        await ada.data(follow.replace('"f1"', '"f3"'), u=bob_id)
        await bob.data(
            "mutation($u: ID!) { approveFollowRequest(userId: $u) { errors { code } } }", u=ada_id
        )

        # safety
        for name in ("mute", "unmute", "block"):
            result = await ada.data(
                f"mutation($u: ID!) {{ {name}(userId: $u) {{ errors {{ code }} }} }}", u=bob_id
            )
            assert result[name]["errors"] == []
        blocked = await bob.data(follow.replace('"f1"', '"f4"'), u=ada_id)
        assert [e["code"] for e in blocked["follow"]["errors"]] == ["BLOCKED"]
        await ada.data("mutation($u: ID!) { unblock(userId: $u) { errors { code } } }", u=bob_id)
        await bob.data("mutation($u: ID!) { unfollow(userId: $u) { errors { code } } }", u=ada_id)

        # typed errors, bad token, refresh, logout
        dupe = await bob.data(
            """mutation { register(username: "ada_e2e", email: "x@example.com",
              password: "long enough pw") {
              errors { field code message } } }"""
        )
        assert [e["code"] for e in dupe["register"]["errors"]] == ["USERNAME_TAKEN"]
        anon = await Api(http).call("{ homeFeed { partial } }")
        assert anon.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        forged = Api(http)
        forged.token = "eyJhbGciOiJub25lIn0.e30."
        assert (await forged.call("{ viewer { user { id } } }")).status_code == 401
        login = await Api(http).data(
            'mutation($p: String!) { login(usernameOrEmail: "ada_e2e", password: $p) '
            "{ refreshToken } }",
            p=PASSWORD,
        )
        refreshed = await Api(http).data(
            "mutation($t: String!) { refreshToken(refreshToken: $t) {"
            " accessToken refreshToken errors { code } } }",
            t=login["login"]["refreshToken"],
        )
        assert refreshed["refreshToken"]["errors"] == []
        out = await Api(http).data(
            "mutation($t: String!) { logout(refreshToken: $t) { ok errors { code } } }",
            t=refreshed["refreshToken"]["refreshToken"],
        )
        assert out["logout"]["ok"] is True


async def test_http_semantics_over_the_wire(server: tuple[GatewayStack, str]) -> None:
    gateway, base = server
    ada = await gateway.person()
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        query = "query($n: String!) { user(username: $n) { username } }"
        digest = hashlib.sha256(query.encode()).hexdigest()
        ext = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        params = {
            "variables": orjson.dumps({"n": ada.username}).decode(),
            "extensions": orjson.dumps(ext).decode(),
        }
        miss = await http.get("/graphql", params=params)
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        await http.post(
            "/graphql", json={"query": query, "variables": {"n": ada.username}, "extensions": ext}
        )
        hit = await http.get("/graphql", params=params)
        assert hit.status_code == 200
        assert hit.headers["content-type"].startswith("application/graphql-response+json")
        assert hit.headers["cache-control"] == "public, max-age=60"
        too_big = await http.post(
            "/graphql", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}
        )
        assert too_big.status_code == 413
        wrong_type = await http.post(
            "/graphql", content=b"{}", headers={"Content-Type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        invalid = await http.post("/graphql", json={"query": "{ nope }"})
        assert invalid.status_code == 400
        assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
