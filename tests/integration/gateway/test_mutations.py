"""Every mutation through HTTP: effects, payload errors with codes, idempotency keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from nova.gateway.relay import to_global_id
from nova.platform.errors import ErrorCode
from tests.integration.gateway.stack import PASSWORD, GatewayStack, Person, gql

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.integration


async def _data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], person: Person | None
) -> dict[str, Any]:
    response = await gql(client, query, variables, person=person)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    assert response.headers["cache-control"] == "no-store"
    data: dict[str, Any] = body["data"]
    return data


_REGISTER = """mutation($u: String!, $e: String!, $p: String!) {
  register(username: $u, email: $e, password: $p) {
    user { username } errors { field code message } } }"""
_LOGIN = """mutation($u: String!, $p: String!) {
  login(usernameOrEmail: $u, password: $p) {
    accessToken refreshToken expiresIn tokenType errors { field code message } } }"""


async def test_register_login_refresh_logout(client: httpx.AsyncClient) -> None:
    # register, then the same username again
    variables = {"u": "grace_h", "e": "grace@example.com", "p": PASSWORD}
    first = await _data(client, _REGISTER, variables, None)
    assert first["register"] == {"user": {"username": "grace_h"}, "errors": []}
    again = await _data(client, _REGISTER, {**variables, "e": "other@example.com"}, None)
    assert again["register"]["user"] is None
    assert len(again["register"]["errors"]) == 1
    assert again["register"]["errors"][0]["code"] == ErrorCode.USERNAME_TAKEN

    # wrong password is a payload error, right one yields tokens
    bad = await _data(client, _LOGIN, {"u": "grace_h", "p": "wrong password!"}, None)
    assert [e["code"] for e in bad["login"]["errors"]] == [ErrorCode.INVALID_CREDENTIALS]
    good = (await _data(client, _LOGIN, {"u": "grace_h", "p": PASSWORD}, None))["login"]
    assert good["errors"] == []
    assert good["tokenType"] == "Bearer"
    me = await client.post(
        "/graphql",
        json={"query": "{ viewer { user { username } preferences { feedMode } } }"},
        headers={"Authorization": f"Bearer {good['accessToken']}"},
    )
    assert me.json()["data"]["viewer"]["user"]["username"] == "grace_h"

    refresh = (
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken errors { code } } }"
    )
    renewed = await _data(client, refresh, {"t": good["refreshToken"]}, None)
    assert renewed["refreshToken"]["accessToken"]
    reused = await _data(client, refresh, {"t": good["refreshToken"]}, None)
    assert len(reused["refreshToken"]["errors"]) == 1
    assert reused["refreshToken"]["errors"][0]["code"] in {
        ErrorCode.TOKEN_REVOKED,
        ErrorCode.UNAUTHENTICATED,
    }

    logout = "mutation($t: String!) { logout(refreshToken: $t) { ok errors { code } } }"
    out = await _data(client, logout, {"t": good["refreshToken"]}, None)
    assert out["logout"]["errors"] == [] or len(out["logout"]["errors"]) == 1


async def test_posts_likes_comments(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada, bob = await gateway.person(), await gateway.person()
    create = """mutation($b: String!, $k: String) {
      createPost(body: $b, visibility: PUBLIC, idempotencyKey: $k) {
        post { id body visibility author { username } } errors { field code } } }"""
    made = (await _data(client, create, {"b": "hello", "k": "k-1"}, ada))["createPost"]
    assert made["errors"] == []
    assert made["post"]["author"]["username"] == ada.username
    retried = (await _data(client, create, {"b": "hello", "k": "k-1"}, ada))["createPost"]
    assert retried["post"]["id"] == made["post"]["id"]
    empty = (await _data(client, create, {"b": "  ", "k": None}, ada))["createPost"]
    assert [(e["field"], e["code"]) for e in empty["errors"]] == [("body", ErrorCode.INVALID_INPUT)]
    anonymous = (await _data(client, create, {"b": "x", "k": None}, None))["createPost"]
    assert [e["code"] for e in anonymous["errors"]] == [ErrorCode.UNAUTHENTICATED]
    post_id = made["post"]["id"]

    edit = """mutation($id: ID!) { editPost(id: $id, body: "edited") {
      post { body editedAt } errors { code } } }"""
    edited = (await _data(client, edit, {"id": post_id}, ada))["editPost"]
    assert edited["post"]["body"] == "edited"
    not_mine = (await _data(client, edit, {"id": post_id}, bob))["editPost"]
    assert len(not_mine["errors"]) == 1

    like = """mutation($id: ID!) { likePost(postId: $id) {
      liked likeCount post { viewerHasLiked } errors { field code } } }"""
    liked = (await _data(client, like, {"id": post_id}, bob))["likePost"]
    assert (liked["liked"], liked["likeCount"], liked["post"]["viewerHasLiked"]) == (True, 1, True)
    twice = (await _data(client, like, {"id": post_id}, bob))["likePost"]
    assert twice["likeCount"] == 1
    unlike = "mutation($id: ID!) { unlikePost(postId: $id) { liked likeCount errors { code } } }"
    assert (await _data(client, unlike, {"id": post_id}, bob))["unlikePost"]["likeCount"] == 0

    comment = """mutation($id: ID!, $k: String) {
      addComment(postId: $id, body: "nice", idempotencyKey: $k) {
      comment { id body author { username } } errors { code } } }"""
    first = (await _data(client, comment, {"id": post_id, "k": "c-1"}, bob))["addComment"]
    again = (await _data(client, comment, {"id": post_id, "k": "c-1"}, bob))["addComment"]
    assert first["comment"]["id"] == again["comment"]["id"]
    listing = """query($id: ID!) { comments(postId: $id) { edges { node { id } } } }"""
    response = await gql(client, listing, {"id": post_id}, person=bob)
    assert len(response.json()["data"]["comments"]["edges"]) == 1

    delete_comment = "mutation($id: ID!) { deleteComment(id: $id) { deletedId errors { code } } }"
    gone = await _data(client, delete_comment, {"id": first["comment"]["id"]}, bob)
    assert gone["deleteComment"]["errors"] == []

    delete = "mutation($id: ID!) { deletePost(id: $id) { deletedId errors { code } } }"
    assert (await _data(client, delete, {"id": post_id}, ada))["deletePost"]["deletedId"] == post_id
    missing = (await _data(client, like, {"id": post_id}, bob))["likePost"]
    assert [e["code"] for e in missing["errors"]] == [ErrorCode.NOT_FOUND]
    bad_id = (await _data(client, like, {"id": "not-an-id"}, bob))["likePost"]
    assert [(e["field"], e["code"]) for e in bad_id["errors"]] == [("postId", "INVALID_INPUT")]


async def test_graph_mutations(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada, bob = await gateway.person(), await gateway.person()
    private = """mutation { updateProfile(isPrivate: true, bio: "hi") {
      user { isPrivate bio } errors { code } } }"""
    assert (await _data(client, private, {}, ada))["updateProfile"]["user"] == {
        "isPrivate": True,
        "bio": "hi",
    }
    prefs = """mutation { updatePreferences(feedMode: CHRONOLOGICAL, notifyOnFollow: false) {
      preferences { feedMode notifyOnFollow } errors { code } } }"""
    assert (await _data(client, prefs, {}, ada))["updatePreferences"]["preferences"] == {
        "feedMode": "CHRONOLOGICAL",
        "notifyOnFollow": False,
    }

    follow = (
        """mutation($u: ID!) { follow(userId: $u) { state user { username } errors { code } } }"""
    )
    requested = (await _data(client, follow, {"u": ada.gid}, bob))["follow"]
    assert requested["state"] == "REQUESTED"
    self_follow = (await _data(client, follow, {"u": ada.gid}, ada))["follow"]
    assert [e["code"] for e in self_follow["errors"]] == [ErrorCode.SELF_ACTION]

    requests = "{ followRequests { edges { node { username } } pageInfo { hasNextPage } } }"
    pending = await gql(client, requests, person=ada)
    assert pending.json()["data"]["followRequests"]["edges"] == [
        {"node": {"username": bob.username}}
    ]
    approve = """mutation($u: ID!) { approveFollowRequest(userId: $u) {
      user { username } errors { code } } }"""
    assert (await _data(client, approve, {"u": bob.gid}, ada))["approveFollowRequest"][
        "errors"
    ] == []
    reject = """mutation($u: ID!) { rejectFollowRequest(userId: $u) { errors { code } } }"""
    assert [
        e["code"]
        for e in (await _data(client, reject, {"u": bob.gid}, ada))["rejectFollowRequest"]["errors"]
    ] == [ErrorCode.NOT_FOUND]

    state = """query($n: String!) { user(username: $n) { viewerFollowState followsViewer
      viewerBlocks viewerMutes } }"""
    seen = (await gql(client, state, {"n": ada.username}, person=bob)).json()["data"]["user"]
    assert seen["viewerFollowState"] == "FOLLOWING"

    for name in ("mute", "unmute", "block", "unblock", "unfollow"):
        op = f"mutation($u: ID!) {{ {name}(userId: $u) {{ errors {{ code }} }} }}"
        assert (await _data(client, op, {"u": ada.gid}, bob))[name]["errors"] == [], name

    blocked_follow = "mutation($u: ID!) { block(userId: $u) { errors { code } } }"
    await _data(client, blocked_follow, {"u": ada.gid}, bob)
    refused = (await _data(client, follow, {"u": ada.gid}, bob))["follow"]
    assert [e["code"] for e in refused["errors"]] == [ErrorCode.BLOCKED]


async def test_node_and_missing_post(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    ada = await gateway.person()
    post_id = to_global_id("Post", await gateway.post(ada, "hi"))
    query = """query($id: ID!) { node(id: $id) { id __typename ... on Post { body } } }"""
    found = await gql(client, query, {"id": post_id})
    assert found.json()["data"]["node"] == {"id": post_id, "__typename": "Post", "body": "hi"}
    user = await gql(client, query.replace("Post { body }", "User { username }"), {"id": ada.gid})
    assert user.json()["data"]["node"]["username"] == ada.username
