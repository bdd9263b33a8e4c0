"""Real PostgreSQL and Redis for a test session, with one fresh database per test.

Migrations run once into a template database; each test gets ``CREATE DATABASE … TEMPLATE``,
which copies files instead of replaying SQL (tens of milliseconds), so tests may commit for
real and run concurrent transactions without seeing each other.
"""

from __future__ import annotations

import itertools
import os
import urllib.parse
from typing import TYPE_CHECKING

import asyncpg

from nova.platform.db import migrate

if TYPE_CHECKING:
    from pathlib import Path

    from nova.platform.embedded import EmbeddedPostgres, EmbeddedRedis

__all__ = ["TestEngines", "with_database"]


def with_database(url: str, database: str) -> str:
    """``url`` with its database (the path) replaced by ``database``."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


class TestEngines:
    """The engines of one test session.

    Args:
        data_dir: Where embedded engines keep their files when no server is configured.
        database_url: A server to use instead of an embedded PostgreSQL (any database on it).
        redis_url: A server to use instead of an embedded Redis.
    """

    __test__ = False  # not a test class, despite the name

    def __init__(self, data_dir: Path, *, database_url: str | None, redis_url: str | None) -> None:
        self._data_dir = data_dir
        self._server_url = database_url
        self.redis_url = redis_url or ""
        self._postgres: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None
        self._names = itertools.count()
        self._tag = f"{os.getpid()}"
        self.template = f"nova_tmpl_{self._tag}"

    @classmethod
    def from_environment(cls, data_dir: Path) -> TestEngines:
        """Use ``NOVA_TEST_DATABASE_URL`` / ``NOVA_TEST_REDIS_URL`` when set."""
        return cls(
            data_dir,
            database_url=os.environ.get("NOVA_TEST_DATABASE_URL") or None,
            redis_url=os.environ.get("NOVA_TEST_REDIS_URL") or None,
        )

    @property
    def embedded(self) -> bool:
        """True when PostgreSQL runs embedded for this session."""
        return self._postgres is not None

    def start(self) -> None:
        """Start whatever engine is not configured as a server."""
        if self._server_url is None:
            from nova.platform.embedded import EmbeddedPostgres

            self._postgres = EmbeddedPostgres(self._data_dir / "pg")
            self._server_url = self._postgres.start()
        if not self.redis_url:
            from nova.platform.embedded import EmbeddedRedis

            self._redis = EmbeddedRedis(self._data_dir / "redis")
            self.redis_url = self._redis.start()

    def stop(self) -> None:
        """Stop the embedded engines this session started."""
        if self._postgres is not None:
            self._postgres.stop()
        if self._redis is not None:
            self._redis.stop()

    @property
    def admin_url(self) -> str:
        """The maintenance database of the server, for CREATE/DROP DATABASE."""
        if self._server_url is None:
            raise RuntimeError("TestEngines.start() has not run")
        return with_database(self._server_url, "postgres")

    async def create_template(self) -> None:
        """Create the migrated template database (dropping a leftover of the same name)."""
        await self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        await self._admin(f'CREATE DATABASE "{self.template}"')
        await migrate.upgrade(with_database(self.admin_url, self.template))

    async def drop_template(self) -> None:
        """Drop the template database."""
        await self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    async def create_database(self) -> str:
        """A fresh, migrated database; returns its URL."""
        name = f"nova_t_{self._tag}_{next(self._names)}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return with_database(self.admin_url, name)

    async def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`."""
        name = urllib.parse.urlsplit(url).path.lstrip("/")
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(sql, timeout=60)
        finally:
            await conn.close(timeout=5)
