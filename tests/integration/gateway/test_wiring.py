"""The GraphQL app mounted in the HTTP shell (``nova.gateway.build(settings, graphql=...)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from nova import gateway as gateway_package
from nova.gateway.http import build_graphql_app
from tests.integration.gateway.stack import GatewayStack, client_for

if TYPE_CHECKING:
    import redis.asyncio as aioredis

pytestmark = pytest.mark.integration


async def test_shell_serves_the_public_schema(
    gateway: GatewayStack, redis_client: aioredis.Redis
) -> None:
    settings = gateway.stack.settings
    graphql = build_graphql_app(settings, gateway.services, redis=redis_client)
    app = gateway_package.build(settings, graphql=graphql)
    ada = await gateway.person()
    async with client_for(app) as client:
        response = await client.post(
            "/graphql",
            json={"query": "{ viewer { user { username } } }"},
            headers=ada.auth,
        )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"user": {"username": ada.username}}}}
