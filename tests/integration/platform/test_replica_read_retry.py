"""A read a replica fails mid-query is answered by the primary: service reads and conflicts.

Two real failures, no synthetic exceptions: the replica's connection dies while a service
read is in flight (a :class:`FaultProxy` between the pool and the standby resets it), and a
standby cancels a running query for a recovery conflict (SQLSTATE 40001) because the primary
took an ACCESS EXCLUSIVE lock the standby must replay.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

import asyncpg
import pytest
import pytest_asyncio

from nova.platform.cache import VersionedCache
from nova.platform.context import Actor
from nova.platform.db import Database, ReplicaPolicy
from nova.platform.ids import new_id
from nova.platform.resilience import BreakerState
from nova.platform.testing.faultproxy import Fault, FaultProxy
from nova.users import Passwords, UsersService, store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.testing import ReplicaPair

pytestmark = pytest.mark.integration

TENANT = "default"
# The health loop stays out of the way (checks are run by hand): a check that happened to run
# while the proxy delays traffic would exclude the replica and the read would never reach it.
QUIET = ReplicaPolicy(timeout=0.5, health_interval=60.0, max_lag=30.0)


async def caught_up(database: Database, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await database.check_replicas()
        if all(r.healthy and r.lag_bytes == 0 for r in database.replicas):
            for replica in database.replicas:
                replica.breaker.reset()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"replica never caught up: {database.replicas[0].reason}")


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(replica_pair: ReplicaPair) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(upstream_port=replica_pair.replica_port, latency=0.3) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def proxied(replica_pair: ReplicaPair, proxy: FaultProxy) -> AsyncIterator[Database]:
    """A Database whose one replica is reached through ``proxy``."""
    database = await Database.connect(
        replica_pair.primary_url,
        replica_urls=[f"postgresql://postgres@{proxy.url_host_port}/nova"],
        replica_policy=QUIET,
    )
    try:
        yield database
    finally:
        await database.close()


async def test_service_read_survives_the_replica_dying_mid_query(
    proxied: Database,
    proxy: FaultProxy,
    settings: Settings,
    redis_client: aioredis.Redis,
    key_prefix: str,
) -> None:
    users = UsersService(
        proxied,
        settings=settings,
        cache=VersionedCache(redis_client, prefix=key_prefix),
        passwords=Passwords(),
    )
    name = f"rr_{uuid.uuid4().hex[:10]}"
    async with proxied.write() as conn:
        created = await store.accounts.insert_user(
            conn,
            user_id=new_id(),
            tenant_id=TENANT,
            username=name,
            email=f"{name}@example.com",
            password_hash="x",
            display_name=name,
        )
    await caught_up(proxied)
    actor = Actor.anonymous(tenant_id=TENANT)
    replica = proxied.replicas[0]
    # Served by the replica, which also leaves an open pooled connection through the proxy.
    before = replica.pool.stats.statements
    assert (await users.get_user(actor, user_id=created.id)).username == name
    assert replica.pool.stats.statements > before
    fallbacks = proxied.fallbacks

    proxy.fault = Fault.LATENCY  # the query is sent but held in the proxy...
    read = asyncio.create_task(users.get_user(actor, user_id=created.id))
    await asyncio.sleep(0.1)
    proxy.fault = Fault.RESET  # ...and the replica's connection dies under it
    try:
        user = await read
    finally:
        proxy.fault = Fault.NONE

    assert user.id == created.id
    assert proxied.fallbacks == fallbacks + 1
    # A lost connection is the server's fault: the breaker stops sending reads there.
    assert replica.breaker.state is not BreakerState.CLOSED
    await caught_up(proxied)
    assert (await users.get_user(actor, user_id=created.id)).id == created.id
    assert replica.pool.stats.in_use == 0


@pytest_asyncio.fixture(loop_scope="session")
async def direct(replica_pair: ReplicaPair) -> AsyncIterator[Database]:
    # Statements may run past the standby's max_standby_streaming_delay (1 s): the conflict,
    # not the client's timeout, must end the query.
    policy = ReplicaPolicy(timeout=5.0, health_interval=60.0, max_lag=30.0)
    database = await Database.connect(
        replica_pair.primary_url, replica_urls=[replica_pair.replica_url], replica_policy=policy
    )
    async with database.write() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS conflict_probe (k int PRIMARY KEY)")
        await conn.execute("INSERT INTO conflict_probe VALUES (1) ON CONFLICT DO NOTHING")
    await caught_up(database)
    try:
        yield database
    finally:
        await database.close()


async def test_real_recovery_conflict_is_answered_by_the_primary(direct: Database) -> None:
    served_by: list[bool] = []
    errors_seen: list[str] = []

    async def slow_on_standby(conn: asyncpg.Connection) -> int:
        standby = bool(await conn.fetchval("SELECT pg_is_in_recovery()"))
        served_by.append(standby)
        try:
            # Holds an ACCESS SHARE lock on the standby for up to 4 s.
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM conflict_probe, pg_sleep(CASE WHEN $1 THEN 4 ELSE 0 END)",
                    standby,
                )
            )
        except asyncpg.PostgresError as exc:
            errors_seen.append(exc.sqlstate)
            raise

    async def lock_on_primary() -> None:
        await asyncio.sleep(0.3)
        async with direct.write() as conn:
            await conn.execute("LOCK TABLE conflict_probe IN ACCESS EXCLUSIVE MODE")

    fallbacks = direct.fallbacks
    started = time.monotonic()
    count, _ = await asyncio.gather(direct.run_read(slow_on_standby), lock_on_primary())
    elapsed = time.monotonic() - started

    assert count == 1
    assert served_by == [True, False]
    assert errors_seen == ["40001"]  # canceling statement due to conflict with recovery
    assert direct.fallbacks == fallbacks + 1
    # The standby did not die: its breaker stays closed.
    assert direct.replicas[0].breaker.state is BreakerState.CLOSED
    # Cancelled after max_standby_streaming_delay (1 s), well before the 4 s sleep ended.
    assert elapsed < 3.5, f"conflict took {elapsed:.2f} s"
