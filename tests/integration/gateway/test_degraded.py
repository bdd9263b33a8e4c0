"""Failing dependencies: saturated pools give 503 + Retry-After; Redis down fails open for reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from nova.gateway.relay import to_global_id
from nova.platform import cache, errors
from tests.integration.gateway.stack import GatewayStack, build_gateway, client_for, gql

if TYPE_CHECKING:
    import httpx

    from nova.platform.config import Settings
    from nova.platform.db import Database

pytestmark = pytest.mark.integration


async def test_pool_exhausted_is_503_with_retry_after(
    gateway: GatewayStack, client: httpx.AsyncClient
) -> None:
    async def saturated(*_args: Any, **_kwargs: Any) -> Any:
        raise errors.PoolExhaustedError("The database is saturated; retry shortly.", retry_after=2)

    ada = await gateway.person()
    post_id = to_global_id("Post", await gateway.post(ada))
    gateway.stack.content.get_posts = saturated
    response = await gql(client, "query($p: ID!) { post(id: $p) { id } }", {"p": post_id})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert len(body["errors"]) == 1
    assert body["errors"][0]["extensions"]["code"] == "POOL_EXHAUSTED"


async def test_redis_down_fails_open_for_reads_and_closed_for_writes(
    db: Database, settings: Settings
) -> None:
    dead = cache.connect("redis://127.0.0.1:1/0", timeout=0.2)
    try:
        gateway = build_gateway(db=db, redis=dead, settings=settings)
        async with client_for(gateway.app) as client:
            read = await gql(client, "{ __typename }")
            write = await gql(client, 'mutation { logout(refreshToken: "x") { ok } }')
    finally:
        await dead.aclose()
    assert read.status_code == 200
    assert read.json() == {"data": {"__typename": "Query"}}
    assert write.status_code == 503
    assert write.headers["retry-after"] == "1"
    assert write.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
