"""Embedded engines: real servers in a temporary data dir, data kept across restarts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import psutil
import pytest
from redis.asyncio import Redis

from nova.platform import errors
from nova.platform.config import Settings
from nova.platform.embedded import (
    ENGINE_NAMES,
    EmbeddedClickHouse,
    EmbeddedPostgres,
    EmbeddedRedis,
    Engines,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir outside pytest's basetemp.

    As root, PostgreSQL runs as ``nova-pg`` and must traverse every parent directory; pytest
    resets ``/tmp/pytest-of-root`` to 0700 whenever any pytest session starts, which would
    pull the ground from under a running server.
    """
    path = Path(tempfile.mkdtemp(prefix="nova-embedded-"))
    yield path
    for process in _servers_on(path):
        process.kill()
    shutil.rmtree(path, ignore_errors=True)


def _family(pid: int | None) -> list[psutil.Process]:
    assert pid is not None
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _alive(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _servers_on(data_dir: Path) -> list[psutil.Process]:
    """postgres/redis-server processes whose command line or working dir is in ``data_dir``."""
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        if process.info["name"] not in {"postgres", "redis-server"}:
            continue
        # redis-server rewrites its title to "host:port", but runs in <data_dir>/redis.
        where = " ".join(process.info["cmdline"] or []) + " " + (process.info["cwd"] or "")
        if str(data_dir) in where and process.ppid() not in {p.pid for p in found}:
            found.append(process)
    return _alive(found)


async def test_postgres_keeps_data_across_restarts(data_dir: Path) -> None:
    pg = EmbeddedPostgres(data_dir)
    url = pg.start()
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    assert url.endswith("/nova")
    assert pg.start() == url
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO kept VALUES (42)")
        settings = await conn.fetchrow(
            "SELECT current_setting('fsync') AS fsync,"
            " current_setting('max_connections') AS max_connections,"
            " current_setting('shared_buffers') AS shared_buffers"
        )
    finally:
        await conn.close()
    assert settings is not None
    assert dict(settings) == {"fsync": "on", "max_connections": "200", "shared_buffers": "128MB"}
    family = _family(pg.pid)

    pg.stop()
    pg.stop()

    assert _alive(family) == []
    again = pg.start()
    try:
        assert again == url, "the remembered port is reused when free"
        conn = await asyncpg.connect(again, timeout=5)
        try:
            assert await conn.fetchval("SELECT id FROM kept") == 42
        finally:
            await conn.close()
    finally:
        pg.stop()
    assert _servers_on(data_dir) == []
    assert (data_dir / "postgres" / "postgresql.log").stat().st_size > 0


def test_postgres_url_before_start_raises(data_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = EmbeddedPostgres(data_dir).url


def test_postgres_left_running_by_a_dead_process_is_adopted(data_dir: Path) -> None:
    # A Nova process that dies without stopping its server leaves the postmaster running.
    script = (
        "import os, sys, pathlib\n"
        "from nova.platform.embedded import EmbeddedPostgres\n"
        "EmbeddedPostgres(pathlib.Path(sys.argv[1])).start()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir)], check=True, timeout=120)
    orphans = _servers_on(data_dir)
    assert len(orphans) == 1

    pg = EmbeddedPostgres(data_dir)
    pg.start()
    try:
        assert pg.pid == orphans[0].pid
    finally:
        pg.stop()

    assert _alive(orphans) == []


def test_second_owner_of_a_data_dir_is_refused(data_dir: Path) -> None:
    first = EmbeddedRedis(data_dir)
    first.start()
    try:
        with pytest.raises(errors.ConfigurationError) as caught:
            EmbeddedRedis(data_dir).start()
    finally:
        first.stop()

    assert caught.value.setting == "NOVA_DATA_DIR"
    assert "in use by another Nova process" in caught.value.reason


async def test_redis_keeps_data_across_restarts(data_dir: Path) -> None:
    redis = EmbeddedRedis(data_dir)
    url = redis.start()
    assert url.startswith("redis://127.0.0.1:")
    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.set("kept", "yes")
    finally:
        await client.aclose()
    family = _family(redis.pid)

    redis.stop()

    assert _alive(family) == []
    again = redis.start()
    try:
        client = Redis.from_url(again, socket_timeout=2, socket_connect_timeout=2)
        try:
            assert await client.get("kept") == b"yes"
        finally:
            await client.aclose()
    finally:
        redis.stop()
    assert _servers_on(data_dir) == []


def test_clickhouse_keeps_data_across_restarts(data_dir: Path) -> None:
    clickhouse = EmbeddedClickHouse(data_dir)
    url = clickhouse.start()
    assert url == f"chdb://{data_dir.resolve() / 'clickhouse' / 'data'}"
    clickhouse.session.query(
        "CREATE TABLE IF NOT EXISTS kept (id UInt32) ENGINE = MergeTree ORDER BY id"
    )
    clickhouse.session.query("INSERT INTO kept VALUES (7)")

    clickhouse.stop()
    clickhouse.stop()

    clickhouse.start()
    try:
        result = clickhouse.session.query("SELECT sum(id) FROM kept", "TabSeparated")
        assert result.bytes().strip() == b"7"
    finally:
        clickhouse.stop()


async def test_engines_start_all_in_parallel_and_stop_twice(data_dir: Path) -> None:
    engines = Engines(Settings(data_dir=data_dir))

    with engines:
        endpoints = engines.start()
        assert engines.start() == endpoints
        assert endpoints.embedded == frozenset(ENGINE_NAMES)
        conn = await asyncpg.connect(endpoints.database_url, timeout=5)
        await conn.close()
        assert endpoints.clickhouse_url.startswith("chdb:///")
        running = _servers_on(data_dir)
        assert len(running) == 2

    engines.stop()
    assert _alive(running) == []


def test_engines_pass_external_urls_through(data_dir: Path) -> None:
    settings = Settings(
        data_dir=data_dir,
        redis_url="redis://cache.internal:6379/0",
        clickhouse_url="http://clickhouse.internal:8123",
    )

    with Engines(settings, only=["redis", "clickhouse"]) as engines:
        endpoints = engines.start()

    assert endpoints.embedded == frozenset()
    assert endpoints.redis_url == "redis://cache.internal:6379/0"
    assert endpoints.clickhouse_url == "http://clickhouse.internal:8123"
    assert not (data_dir / "redis").exists()


def test_unwritable_data_dir_names_the_setting(data_dir: Path) -> None:
    blocker = data_dir / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(errors.ConfigurationError) as caught:
        Engines(Settings(data_dir=blocker / "nova")).start()

    assert caught.value.setting == "NOVA_DATA_DIR"
    assert str(blocker) in caught.value.reason
