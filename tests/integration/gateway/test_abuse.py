"""Hostile and malformed requests: each is refused with a clear 4xx GraphQL error, never a 500."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import pytest

from tests.integration.gateway.stack import GatewayStack, gql

if TYPE_CHECKING:
    import httpx

pytestmark = pytest.mark.integration


def _single_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.headers["cache-control"] == "no-store"
    errors = response.json()["errors"]
    assert len(errors) >= 1
    assert "Traceback" not in response.text
    error: dict[str, Any] = errors[0]
    return error


async def test_depth_50(client: httpx.AsyncClient) -> None:
    query = "{ homeFeed { edges { node { " + "author { " * 45 + "id" + " }" * 45 + " } } } }"
    error = _single_error(await gql(client, query), 400)
    assert "depth" in error["message"]


async def test_1000_aliases(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"
    error = _single_error(await gql(client, query), 400)
    assert "aliases" in error["message"]


async def test_many_tokens(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join("__typename" for _ in range(5000)) + " }"
    error = _single_error(await gql(client, query), 400)
    assert "tokens" in error["message"]


async def test_circular_fragments(client: httpx.AsyncClient) -> None:
    query = """query { viewer { ...A } }
      fragment A on Viewer { user { id } ...B }
      fragment B on Viewer { ...A }"""
    error = _single_error(await gql(client, query), 400)
    assert "fragment" in error["message"].lower()


async def test_one_megabyte_query(client: httpx.AsyncClient) -> None:
    query = "{ __typename }" + " " * 1_000_000
    error = _single_error(await gql(client, query), 413)
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_1000_batched_operations(client: httpx.AsyncClient) -> None:
    batch = [{"query": "{ __typename }"}] * 1000
    error = _single_error(await client.post("/graphql", json=batch), 400)
    assert "batch" in error["message"]


async def test_small_batch_runs(client: httpx.AsyncClient) -> None:
    batch = [{"query": "{ __typename }"}, {"query": "{ viewer { user { id } } }"}]
    response = await client.post("/graphql", json=batch)
    assert response.status_code == 200
    assert response.json() == [{"data": {"__typename": "Query"}}, {"data": {"viewer": None}}]


async def test_expensive_pages_are_priced(client: httpx.AsyncClient) -> None:
    query = """{ a: followers(userId: "x", first: 100) { edges { node { id } } }
      b: followers(userId: "x", first: 100) { edges { node { id } } } }"""
    cheap = await gql(client, query)
    assert cheap.status_code != 400 or "expensive" not in cheap.text
    field = (
        'comments(postId: "x", first: 100) '
        "{ edges { node { author { id username bio displayName } } } }"
    )
    costly = "{ " + " ".join(f"c{i}: {field}" for i in range(20)) + " }"
    error = _single_error(await gql(client, costly), 400)
    assert "expensive" in error["message"]


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b'{"query": ', headers={"Content-Type": "application/json"}
    )
    assert _single_error(response, 400)["extensions"]["code"] == "BAD_REQUEST"


async def test_wrong_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{ __typename }", headers={"Content-Type": "text/plain"}
    )
    _single_error(response, 415)


async def test_unknown_operation_name(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "query A { __typename }", "operationName": "B"}
    )
    assert "Unknown operation" in _single_error(response, 400)["message"]


async def test_invalid_variables(client: httpx.AsyncClient) -> None:
    response = await gql(
        client, "query($n: Int!) { homeFeed(first: $n) { partial } }", {"n": "twenty"}
    )
    _single_error(response, 400)


async def test_syntax_error_and_unknown_field(client: httpx.AsyncClient) -> None:
    assert _single_error(await gql(client, "{ viewer "), 400)["extensions"]["code"] == (
        "GRAPHQL_VALIDATION_FAILED"
    )
    unknown = _single_error(await gql(client, "{ viewr }"), 400)
    assert "viewr" in unknown["message"]


async def test_mutation_over_get_and_other_methods(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": 'mutation { logout(refreshToken: "x") { ok } }'}
    )
    _single_error(response, 405)
    _single_error(await client.put("/graphql", content=b"{}"), 405)


async def test_non_object_bodies(client: httpx.AsyncClient) -> None:
    for body in (b"[]", b"42", b'{"query": 5}', b'{"query": "{ __typename }", "variables": []}'):
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        _single_error(response, 400)
    get = await client.get("/graphql", params={"query": "{ __typename }", "variables": "{"})
    _single_error(get, 400)


async def test_unexpected_failure_is_masked(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    # given a service that blows up with an internal detail
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError('relation "posts" does not exist; SELECT secret FROM internal')

    ada = await gateway.person()
    gateway.stack.content.get_posts = broken  # fault injection
    response = await gql(
        client,
        '{ post(id: "UG9zdDowMTlhYzRjMi0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDA=") { id } }',
        person=ada,
    )
    body = response.json()
    assert response.status_code == 200
    assert body["data"] == {"post": None}
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert body["errors"][0]["extensions"]["correlationId"] == response.headers["x-request-id"]
    assert "SELECT" not in response.text
    assert "does not exist" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert orjson.loads(response.content)["errors"][0]["message"].startswith(
        "Internal server error"
    )
