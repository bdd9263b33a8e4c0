"""Fixtures of the gRPC chaos tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.feed.stack import Stack, build_stack

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database


@pytest.fixture
def stack(db: Database, redis_client: aioredis.Redis, settings: Settings) -> Stack:
    return build_stack(db=db, redis=redis_client, settings=settings)
