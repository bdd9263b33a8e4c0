"""Fixtures of the event-pipeline integration tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest_asyncio

from nova.platform.events import RedisStreamLog, Relay, RelayPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis


@pytest_asyncio.fixture(loop_scope="session")
async def log(redis_client: aioredis.Redis, key_prefix: str) -> RedisStreamLog:
    """The event log under this test's key prefix."""
    return RedisStreamLog(redis_client, prefix=key_prefix, block_cap=0.5)


@pytest_asyncio.fixture(loop_scope="session")
async def relay(database_url: str, log: RedisStreamLog) -> AsyncIterator[Relay]:
    """A relay on this test's database, polling fast."""
    r = Relay(dsn=database_url, log=log, policy=RelayPolicy(batch_size=200, poll_interval=0.05))
    try:
        yield r
    finally:
        await r.close()
