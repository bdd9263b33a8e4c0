"""pytest plugin: real engines, per-test databases and key prefixes, loop-error guard.

Fixtures:
    nova_engines: the session's :class:`~nova.platform.testing.TestEngines`.
    database_url: URL of a fresh migrated database for this test.
    db: a :class:`~nova.platform.db.Database` on it.
    replica_pair: an embedded primary with a streaming replica (session-wide).
    redis_client: a fail-fast Redis client; ``key_prefix`` isolates this test's keys.
    settings: :class:`~nova.platform.config.Settings` pointing at all of the above.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from nova.platform import cache
from nova.platform.config import Environment, Settings
from nova.platform.db import Database, PoolPolicy, migrate
from nova.platform.testing.engines import TestEngines
from nova.platform.testing.replica import ReplicaPair

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import redis.asyncio as aioredis


@pytest.fixture(scope="session")
def nova_engines() -> Iterator[TestEngines]:
    """Engines for the whole session (servers from the environment, or embedded)."""
    # Not under pytest's basetemp: another pytest session resets that tree to 0700, which
    # locks out the unprivileged user an embedded PostgreSQL runs as when we are root.
    data_dir = Path(tempfile.mkdtemp(prefix="nova-test-engines-"))
    data_dir.chmod(0o755)
    engines = TestEngines.from_environment(data_dir)
    engines.start()
    try:
        yield engines
    finally:
        engines.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _nova_template(nova_engines: TestEngines) -> AsyncIterator[str]:
    await nova_engines.create_template()
    try:
        yield nova_engines.template
    finally:
        await nova_engines.drop_template()


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(nova_engines: TestEngines, _nova_template: str) -> AsyncIterator[str]:
    """A fresh database with every migration applied, dropped after the test."""
    url = await nova_engines.create_database()
    try:
        yield url
    finally:
        await nova_engines.drop_database(url)


@pytest_asyncio.fixture(loop_scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on this test's database (pool of 10)."""
    database = await Database.connect(database_url, policy=PoolPolicy(size=10))
    try:
        yield database
    finally:
        await database.close()


def _shared_temp_dir(prefix: str) -> Path:
    # Outside pytest's basetemp, readable by the unprivileged PostgreSQL user (see above).
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def replica_pair() -> AsyncIterator[ReplicaPair]:
    """An embedded primary (migrated database ``nova``) with a streaming hot standby.

    Always embedded, even when ``NOVA_TEST_DATABASE_URL`` is set: tests stop and freeze
    these servers, and the shared server allows no replication connections.
    """
    base = _shared_temp_dir("nova-test-replica-")
    pair = ReplicaPair(base)
    try:
        pair.start()
        await migrate.upgrade(pair.primary_url)
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix unique to this test."""
    return f"t:{uuid.uuid4().hex[:12]}:"


@pytest_asyncio.fixture(loop_scope="session")
async def redis_client(nova_engines: TestEngines, key_prefix: str) -> AsyncIterator[aioredis.Redis]:
    """A fail-fast Redis client; this test's keys (``key_prefix*``) are deleted afterwards."""
    client = cache.connect(nova_engines.redis_url, timeout=2.0)
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=key_prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def settings(
    nova_engines: TestEngines, database_url: str, key_prefix: str, tmp_path: Any
) -> Settings:
    """Settings for this test: its own database and Redis key prefix, test environment."""
    return Settings(
        environment=Environment.TEST,
        data_dir=tmp_path / "data",
        database_url=SecretStr(database_url),
        redis_url=SecretStr(nova_engines.redis_url),
        redis_key_prefix=key_prefix,
    )


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _fail_on_unhandled_loop_errors() -> AsyncIterator[None]:
    """Fail the test when a task dies with an exception nobody retrieved."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield
    finally:
        loop.set_exception_handler(previous)
    if seen:
        pytest.fail(f"unhandled exception in the event loop: {seen[0].get('message')!r}")
