"""Fixtures of the users integration tests: the service on this test's database and Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from nova.platform.cache import VersionedCache
from nova.platform.context import Actor
from nova.users import Passwords, UsersService
from tests.integration.users._support import PASSWORD, TENANT, People

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    """One hasher for the session (it precomputes a decoy hash)."""
    return Passwords()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def password_hash(passwords: Passwords) -> str:
    """The argon2id hash of :data:`PASSWORD`, computed once."""
    return await passwords.hash(PASSWORD)


@pytest.fixture
def cache(redis_client: aioredis.Redis, key_prefix: str) -> VersionedCache:
    return VersionedCache(redis_client, prefix=key_prefix)


@pytest.fixture
def users(
    db: Database, settings: Settings, cache: VersionedCache, passwords: Passwords
) -> UsersService:
    return UsersService(db, settings=settings, cache=cache, passwords=passwords)


@pytest.fixture
def people(users: UsersService, db: Database, password_hash: str) -> People:
    return People(users, db, password_hash)


@pytest.fixture
def anonymous() -> Actor:
    return Actor.anonymous(tenant_id=TENANT)
