"""What the load test asks Nova: five GraphQL operations, a weighted mix, pooled tokens.

==============  ======  ============================================================
scenario        mix     request
==============  ======  ============================================================
``home``        60 %    signed-in ``homeFeed(first: 20)``, hydrated (author, liked)
``profile``     15 %    anonymous ``user(username:)``: public, so response-cacheable
``post``        10 %    anonymous ``post(id:)`` with ``comments(first: 20)``
``like``        10 %    signed-in ``likePost`` of a post seen in the warm-up feeds
``create``       5 %    signed-in ``createPost`` (fanned out by the outbox worker)
``recs``         0 %    signed-in ``recommendedFeed(first: 20)`` with reasons (run it
                        alone: ``--scenario recs``; see docs/performance.md)
==============  ======  ============================================================

Profiles and posts are read anonymously, as public pages (web embeds, link previews) are:
that is the traffic the response cache serves. Every choice comes from one seeded
``random.Random``, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

import orjson

from nova import seed as seeding
from nova.bench.loadgen import HttpClient, Request

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MIX", "SCENARIOS", "Workload", "login_pool"]

HOME = (
    "query Home { homeFeed(first: 20) { edges { node { id body likeCount commentCount createdAt"
    " viewerHasLiked author { id username displayName } } } pageInfo { hasNextPage endCursor }"
    " partial source } }"
)
PROFILE = (
    "query Profile($username: String!) { user(username: $username) { id username displayName"
    " bio followerCount followingCount postCount } }"
)
POST = (
    "query Post($id: ID!) { post(id: $id) { id body likeCount commentCount createdAt"
    " author { id username displayName } } comments(postId: $id, first: 20) { edges { node"
    " { id body createdAt author { id username } } } } }"
)
LIKE = "mutation Like($id: ID!) { likePost(postId: $id) { liked likeCount errors { code } } }"
CREATE = (
    "mutation Create($body: String!) { createPost(body: $body) { post { id } errors { code } } }"
)
RECS = (
    "query Recs { recommendedFeed(first: 20) { edges { node { id body likeCount createdAt"
    " author { id username } } reason { sources score } } pageInfo { hasNextPage endCursor }"
    " source } }"
)
LOGIN = (
    "mutation Login($u: String!, $p: String!) { login(usernameOrEmail: $u, password: $p)"
    " { accessToken errors { code message } } }"
)

#: Scenario names in report order.
SCENARIOS = ("home", "profile", "post", "like", "create", "recs")
#: The default mix (weights sum to 100).
MIX: dict[str, int] = {"home": 60, "profile": 15, "post": 10, "like": 10, "create": 5}


def _body(query: str, variables: dict[str, object] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": variables or {}})


async def login_pool(
    client: HttpClient, usernames: Sequence[str], *, concurrency: int = 4
) -> list[str]:
    """Log every user in (password :data:`nova.seed.SEED_PASSWORD`); their access tokens.

    Raises:
        RuntimeError: a login failed (wrong data set, or the server refused).
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(username: str) -> str:
        async with gate:
            status, raw = await client.post(
                "/graphql", _body(LOGIN, {"u": username, "p": seeding.SEED_PASSWORD})
            )
        token = (orjson.loads(raw).get("data") or {}).get("login", {}).get("accessToken")
        if status != 200 or not token:
            raise RuntimeError(f"login of {username} failed ({status}): {raw[:200]!r}")
        return str(token)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(name)) for name in usernames]
    return [task.result() for task in tasks]


class Workload:
    """Draws requests for a mix (or one scenario) from the pooled users and seen posts.

    Args:
        tokens: Access tokens of the pooled users.
        usernames: Usernames profiles are drawn from.
        weights: Scenario -> weight (e.g. :data:`MIX` or ``{"home": 1}``).
        seed: Random seed.
    """

    def __init__(
        self,
        *,
        tokens: Sequence[str],
        usernames: Sequence[str],
        weights: dict[str, int],
        seed: int = 7,
    ) -> None:
        unknown = set(weights) - set(SCENARIOS)
        if unknown or not tokens:
            raise ValueError(f"unknown scenarios {sorted(unknown)} or no tokens")
        self._rng = random.Random(seed)  # noqa: S311  # load shape, not security
        self._tokens = list(tokens)
        self._usernames = list(usernames)
        self._names = [name for name in SCENARIOS if weights.get(name, 0) > 0]
        self._weights = [weights[name] for name in self._names]
        self.post_ids: list[str] = []
        self._home = _body(HOME)
        self._recs = _body(RECS)
        self._serial = 0

    def warm_requests(self) -> list[Request]:
        """One home-feed read per pooled user (rebuilds their timelines, collects post ids)."""
        return [Request("home", self._home, token) for token in self._tokens]

    def observe(self, body: bytes) -> None:
        """Collect post ids from a home-feed response (targets of ``post`` and ``like``)."""
        data = orjson.loads(body).get("data") or {}
        for edge in (data.get("homeFeed") or {}).get("edges", []):
            self.post_ids.append(edge["node"]["id"])

    def next(self) -> Request:
        """The next request of the mix."""
        rng = self._rng
        name = rng.choices(self._names, weights=self._weights)[0]
        if name in {"post", "like"} and not self.post_ids:
            name = "home"
        token = rng.choice(self._tokens)
        if name == "home":
            return Request(name, self._home, token)
        if name == "recs":
            return Request(name, self._recs, token)
        if name == "profile":
            return Request(name, _body(PROFILE, {"username": rng.choice(self._usernames)}), None)
        if name == "post":
            return Request(name, _body(POST, {"id": rng.choice(self.post_ids)}), None)
        if name == "like":
            return Request(name, _body(LIKE, {"id": rng.choice(self.post_ids)}), token)
        self._serial += 1
        return Request(name, _body(CREATE, {"body": f"bench post {self._serial}"}), token)
