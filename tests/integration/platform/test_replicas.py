"""Replica routing, health, read-your-writes and fallbacks against a real streaming replica."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from typing import TYPE_CHECKING

import asyncpg
import pytest
import pytest_asyncio

from nova.platform.db import Database, ReplicaPolicy, consistency
from nova.platform.resilience import BreakerState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.platform.testing import ReplicaPair

pytestmark = pytest.mark.integration

POLICY = ReplicaPolicy(timeout=0.5, health_interval=0.3, max_lag=1.0)


@pytest_asyncio.fixture(loop_scope="session")
async def rdb(replica_pair: ReplicaPair) -> AsyncIterator[Database]:
    database = await Database.connect(
        replica_pair.primary_url, replica_urls=[replica_pair.replica_url], replica_policy=POLICY
    )
    async with database.write() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS rt (k text PRIMARY KEY, v int)")
    await wait_caught_up(database)
    try:
        yield database
    finally:
        await database.close()


async def wait_caught_up(database: Database, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await database.check_replicas()
        if all(r.healthy and r.lag_bytes == 0 for r in database.replicas):
            database.replicas[0].breaker.reset()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"replica never caught up: {database.replicas[0].reason}")


async def read_value(conn: asyncpg.Connection, *, key: str) -> object:
    return await conn.fetchval("SELECT v FROM rt WHERE k = $1", key)


async def on_standby(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_is_in_recovery()"))


async def test_reads_go_to_the_replica_and_writes_to_the_primary(rdb: Database) -> None:
    async with rdb.read() as conn:
        assert await on_standby(conn)
    async with rdb.read(primary=True) as conn:
        assert not await on_standby(conn)
    async with rdb.write() as conn:
        assert not await on_standby(conn)
    with consistency.primary_only():
        assert not await rdb.run_read(on_standby)


async def test_read_your_writes_until_the_replica_replays_the_write(rdb: Database) -> None:
    key = uuid.uuid4().hex
    with consistency.caller("user-1"):
        async with rdb.write() as conn:
            await conn.execute("INSERT INTO rt VALUES ($1, 1)", key)
        assert not await rdb.run_read(on_standby)  # pinned to the primary
    assert await rdb.run_read(on_standby)  # other callers still use the replica
    await wait_caught_up(rdb)
    with consistency.caller("user-1"):
        assert await rdb.run_read(on_standby)  # replayed: back on the replica
        row = await rdb.run_read(lambda c: c.fetchval("SELECT v FROM rt WHERE k = $1", key))
    assert row == 1


async def test_recovery_conflict_is_retried_once_on_the_primary(rdb: Database) -> None:
    calls: list[bool] = []

    async def conflicted(conn: asyncpg.Connection) -> str:
        standby = await on_standby(conn)
        calls.append(standby)
        if standby:
            raise asyncpg.SerializationError("canceling statement due to conflict with recovery")
        return "primary"

    assert await rdb.run_read(conflicted) == "primary"
    assert calls == [True, False]
    assert rdb.replicas[0].breaker.state is BreakerState.CLOSED


async def test_stopped_replica_fails_no_read_and_rejoins(
    rdb: Database, replica_pair: ReplicaPair
) -> None:
    interval = POLICY.health_interval
    failures = 0
    replica_pair.stop_replica()
    try:
        stopped = time.monotonic()
        on_replica_after: float | None = None
        while time.monotonic() - stopped < 3 * interval:
            try:
                if await rdb.run_read(on_standby):
                    on_replica_after = time.monotonic() - stopped
            except Exception:  # noqa: BLE001  # counted: the criterion is zero
                failures += 1
            await asyncio.sleep(0.01)
        assert not rdb.replicas[0].healthy
    finally:
        replica_pair.start_replica()
    assert failures == 0
    assert on_replica_after is None
    restarted = time.monotonic()
    back_after: float | None = None
    while time.monotonic() - restarted < 10:
        if await rdb.run_read(on_standby):
            back_after = time.monotonic() - restarted
            break
        await asyncio.sleep(0.02)
    assert back_after is not None
    # Health loop (one interval) then the breaker's half-open probe (one interval), slack for CI.
    assert back_after < 2 * interval + 2.0


# Known open item: asyncpg occasionally drops one half-made connection to the frozen server
# unclosed (GC closes its socket); it is not one the pool hands out, which the test checks.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_frozen_replica_bounded_latency_breaker_and_no_poisoned_connection(
    rdb: Database, replica_pair: ReplicaPair
) -> None:
    processes = replica_pair.replica_processes()
    latencies: list[float] = []
    for process in processes:
        process.suspend()
    try:
        frozen = time.monotonic()
        while time.monotonic() - frozen < 2.0:
            started = time.monotonic()
            assert not await rdb.run_read(on_standby)
            latencies.append(time.monotonic() - started)
        breaker_state = rdb.replicas[0].breaker.state
    finally:
        for process in processes:
            process.resume()
    assert breaker_state is not BreakerState.CLOSED
    # Issue bound: timeout + 200 ms; generous CI slack (shared 2-core machine).
    assert max(latencies) <= POLICY.timeout + 1.0
    await wait_caught_up(rdb)
    for _ in range(2 * rdb.replicas[0].pool.policy.size):
        assert await rdb.run_read(lambda c: c.fetchval("SELECT 41 + 1")) == 42
    assert rdb.replicas[0].pool.stats.in_use == 0


@pytest.mark.parametrize(
    "count",
    [pytest.param(100, id="ci"), pytest.param(1000, id="acceptance", marks=pytest.mark.slow)],
)
async def test_lagging_replica_is_excluded_and_writers_read_their_writes(
    rdb: Database, replica_pair: ReplicaPair, count: int
) -> None:
    replica_pair.configure(apply_delay_ms=5000)
    replica_pair.reload()
    misses = 0
    try:
        for i in range(count):
            key = uuid.uuid4().hex
            with consistency.caller(f"user-{i % 10}"):
                async with rdb.write() as conn:
                    await conn.execute("INSERT INTO rt VALUES ($1, $2)", key, i)
                got = await rdb.run_read(functools.partial(read_value, key=key))
            misses += got != i
        await asyncio.sleep(POLICY.max_lag + 2 * POLICY.health_interval)
        await rdb.check_replicas()
        excluded = not rdb.replicas[0].healthy
        lag = rdb.replicas[0].lag_seconds
    finally:
        replica_pair.configure(apply_delay_ms=0)
        replica_pair.reload()
    assert misses == 0
    assert excluded, f"lag {lag}"
    await wait_caught_up(rdb)
