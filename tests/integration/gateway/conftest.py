"""Fixtures of the gateway integration tests: the full stack behind ``/graphql``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from tests.integration.gateway.stack import GatewayStack, build_gateway, client_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database


@pytest.fixture
def gateway(db: Database, redis_client: aioredis.Redis, settings: Settings) -> GatewayStack:
    return build_gateway(db=db, redis=redis_client, settings=settings)


@pytest_asyncio.fixture(loop_scope="session")
async def client(gateway: GatewayStack) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(gateway.app) as http:
        yield http
