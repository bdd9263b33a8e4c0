"""Cache-Control from field hints, the Redis response cache, persisted queries, rate limits."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson
import pytest
from starlette.routing import Route

from nova.gateway.http import GraphQLEndpoint
from nova.gateway.limits import GatewayPolicy
from nova.gateway.ratelimit import RateLimit
from nova.gateway.relay import to_global_id
from tests.integration.gateway.stack import GatewayStack, build_gateway, client_for, gql

if TYPE_CHECKING:
    import httpx
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database

pytestmark = pytest.mark.integration

_USER = "query($n: String!) { user(username: $n) { username followerCount } }"


def _endpoint(gateway: GatewayStack) -> GraphQLEndpoint:
    route = gateway.app.routes[0]
    assert isinstance(route, Route)
    endpoint = route.app
    assert isinstance(endpoint, GraphQLEndpoint)
    return endpoint


async def test_public_fields_are_public_with_the_minimum_max_age(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    ada = await gateway.person()
    user = await gql(client, _USER, {"n": ada.username})
    assert user.headers["cache-control"] == "public, max-age=60"
    post_id = to_global_id("Post", await gateway.post(ada))
    both = await gql(
        client,
        "query($n: String!, $p: ID!) { user(username: $n) { id } post(id: $p) { body } }",
        {"n": ada.username, "p": post_id},
    )
    assert both.headers["cache-control"] == "public, max-age=30"


async def test_private_field_makes_the_response_private(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    ada = await gateway.person()
    post_id = to_global_id("Post", await gateway.post(ada))
    query = "query($p: ID!) { post(id: $p) { body viewerHasLiked } }"
    anonymous = await gql(client, query, {"p": post_id})
    assert anonymous.headers["cache-control"] == "private, max-age=30"
    signed_in = await gql(client, _USER, {"n": ada.username}, person=ada)
    assert signed_in.headers["cache-control"] == "private, max-age=60"


async def test_feed_mutations_and_errors_are_not_stored(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    ada = await gateway.person()
    feed = await gql(client, "{ homeFeed { partial } }", person=ada)
    assert feed.headers["cache-control"] == "no-store"
    mutation = await gql(client, 'mutation { createPost(body: "x") { post { id } } }', person=ada)
    assert mutation.headers["cache-control"] == "no-store"
    error = await gql(client, '{ post(id: "bad") { id } }')
    assert error.headers["cache-control"] == "no-store"
    assert len(error.json()["errors"]) == 1


async def test_public_responses_are_served_from_redis(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    # given a public query answered once
    ada = await gateway.person()
    first = await gql(client, _USER, {"n": ada.username})
    # when it is asked again, anonymously
    before = gateway.db.stats.statements
    second = await gql(client, _USER, {"n": ada.username})
    # then no SQL ran and the body is the same
    assert gateway.db.stats.statements == before
    assert second.json() == first.json()
    assert second.headers["cache-control"].startswith("public, max-age=")
    assert _endpoint(gateway).responses.hits == 1
    # and a signed-in viewer never gets the shared entry
    await gql(client, _USER, {"n": ada.username}, person=ada)
    assert _endpoint(gateway).responses.hits == 1


async def test_errors_are_never_cached(gateway: GatewayStack, client: httpx.AsyncClient) -> None:
    query = "query($p: ID!) { post(id: $p) { body } }"
    for _ in range(2):
        response = await gql(client, query, {"p": "bad"})
        assert len(response.json()["errors"]) == 1
    assert _endpoint(gateway).responses.hits == 0


async def test_automatic_persisted_queries(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    ada = await gateway.person()
    query = "query U($n: String!) { user(username: $n) { username } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    params = {
        "variables": orjson.dumps({"n": ada.username}).decode(),
        "extensions": orjson.dumps(extensions).decode(),
    }
    # the hash alone is unknown at first
    miss = await client.get("/graphql", params=params)
    assert miss.status_code == 200
    errors = miss.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["message"] == "PersistedQueryNotFound"
    assert errors[0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # registering it with the text runs it
    registered = await client.post(
        "/graphql",
        json={"query": query, "variables": {"n": ada.username}, "extensions": extensions},
    )
    assert registered.json()["data"]["user"]["username"] == ada.username
    # then a GET with the hash alone works, and is cacheable
    hit = await client.get("/graphql", params=params)
    assert hit.json()["data"]["user"]["username"] == ada.username
    assert hit.headers["cache-control"].startswith("public")
    # a hash that does not match the text is refused
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    mismatch = await client.post("/graphql", json={"query": query, "extensions": wrong})
    assert mismatch.status_code == 400


async def test_rate_limit_answers_429_with_retry_after(
    db: Database, redis_client: aioredis.Redis, settings: Settings
) -> None:
    policy = GatewayPolicy(ip_limit=RateLimit(per_minute=60, burst=3))
    gateway = build_gateway(db=db, redis=redis_client, settings=settings, policy=policy)
    async with client_for(gateway.app) as client:
        statuses = [(await gql(client, "{ __typename }")).status_code for _ in range(6)]
        limited = await gql(client, "{ __typename }")
    assert statuses[:3] == [200, 200, 200]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
