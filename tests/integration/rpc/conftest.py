"""Fixtures of the gRPC tests: the gateway over either wiring, and the gRPC wiring itself.

``gateway`` is parametrized over ``local`` (in-process clients) and ``grpc`` (the same
services behind real gRPC servers on loopback), so every gateway test collected in this
directory runs against both wirings with the same assertions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Route

from nova.gateway.http import build_graphql_app
from tests.integration.feed.stack import Stack, build_stack
from tests.integration.gateway.stack import GatewayStack, build_gateway, client_for
from tests.integration.rpc.wiring import GrpcWiring, grpc_wiring

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database


@pytest_asyncio.fixture(loop_scope="session", params=["local", "grpc"])
async def gateway(
    request: pytest.FixtureRequest, db: Database, redis_client: aioredis.Redis, settings: Settings
) -> AsyncIterator[GatewayStack]:
    local = build_gateway(db=db, redis=redis_client, settings=settings)
    if request.param == "local":
        yield local
        return
    # Not nested: tests patch stack.content / stack.feed and must see it behind gRPC.
    async with grpc_wiring(local.stack, nested=False) as wired:
        services = wired.services
        graphql = build_graphql_app(settings, services, redis=redis_client)
        app = Starlette(routes=[Route("/graphql", graphql)])
        yield GatewayStack(stack=local.stack, services=services, app=app, tokens=local.tokens)


@pytest_asyncio.fixture(loop_scope="session")
async def client(gateway: GatewayStack) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(gateway.app) as http:
        yield http


@pytest.fixture
def stack(db: Database, redis_client: aioredis.Redis, settings: Settings) -> Stack:
    return build_stack(db=db, redis=redis_client, settings=settings)


@pytest_asyncio.fixture(loop_scope="session")
async def wired(stack: Stack) -> AsyncIterator[GrpcWiring]:
    async with grpc_wiring(stack) as wiring:
        yield wiring
