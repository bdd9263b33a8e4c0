"""Fixtures of the recommendations integration tests: one chdb session for the package."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from nova.analytics_sink.sink import SCHEMA
from nova.platform.analytics import ChdbClickHouse
from nova.platform.embedded import EmbeddedClickHouse
from tests.integration.feed.stack import Stack, build_stack

if TYPE_CHECKING:
    from collections.abc import Iterator

    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database


@pytest.fixture(scope="package")
def chdb_engine() -> Iterator[EmbeddedClickHouse]:
    """The package's chdb session: a process may hold one, so it is opened once, then closed."""
    base = Path(tempfile.mkdtemp(prefix="nova-test-recs-ch-"))
    engine = EmbeddedClickHouse(base)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def clickhouse(chdb_engine: EmbeddedClickHouse) -> ChdbClickHouse:
    """The sink's tables, emptied for this test."""
    ch = ChdbClickHouse(chdb_engine.session)
    for ddl in SCHEMA:
        await ch.command(ddl)
    await ch.command("TRUNCATE TABLE engagement_events")
    await ch.command("TRUNCATE TABLE feed_candidates")
    await ch.command("TRUNCATE TABLE recommendation_events")
    return ch


@pytest.fixture
def stack(db: Database, redis_client: aioredis.Redis, settings: Settings) -> Stack:
    return build_stack(db=db, redis=redis_client, settings=settings)
