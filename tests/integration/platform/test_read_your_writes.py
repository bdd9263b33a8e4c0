"""Read-your-writes across processes: positions shared through Redis, and Redis failing.

Each :class:`Database` below stands for one process (its own pools, health loop and local
LRU); they share only Redis, as ``nova up --processes`` services and replicas of one service
do. The standby applies WAL 3 s late (``recovery_min_apply_delay``) but stays within
``max_lag``, so it keeps serving reads: only the recorded position keeps a writer off it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Route

from nova.gateway.context import Services
from nova.gateway.http import build_graphql_app
from nova.platform import cache
from nova.platform.context import Actor
from nova.platform.db import Database, ReplicaPolicy, consistency
from nova.users.client import LocalUsersClient
from nova.users.security import AccessTokens
from tests.integration.feed.stack import Stack, build_stack

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.testing import ReplicaPair

pytestmark = pytest.mark.integration

logger = logging.getLogger(__name__)

POLICY = ReplicaPolicy(timeout=0.5, health_interval=0.3, max_lag=30.0)
APPLY_DELAY_MS = 3000


async def open_process(pair: ReplicaPair, redis: aioredis.Redis | None, prefix: str) -> Database:
    positions = consistency.CallerPositions(redis, prefix=prefix, ttl=POLICY.position_ttl)
    return await Database.connect(
        pair.primary_url,
        replica_urls=[pair.replica_url],
        replica_policy=POLICY,
        positions=positions,
    )


async def caught_up(database: Database, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await database.check_replicas()
        if all(r.healthy and r.lag_bytes == 0 for r in database.replicas):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"replica never caught up: {database.replicas[0].reason}")


async def on_standby(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_is_in_recovery()"))


async def value_of(conn: asyncpg.Connection, key: str) -> int | None:
    found = await conn.fetchval("SELECT v FROM rw_probe WHERE k = $1", key)
    return None if found is None else int(found)


async def _delay_in_force(pair: ReplicaPair, expected: str, within: float = 10.0) -> None:
    """Wait until the standby has re-read its configuration (SIGHUP is asynchronous)."""
    conn = await asyncpg.connect(pair.replica_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await conn.fetchval("SHOW recovery_min_apply_delay") == expected:
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise AssertionError(f"recovery_min_apply_delay never became {expected}")


@contextlib.asynccontextmanager
async def applying_late(pair: ReplicaPair) -> AsyncIterator[None]:
    """The standby applies WAL 3 s late inside the block, and catches up after it."""
    pair.configure(apply_delay_ms=APPLY_DELAY_MS)
    pair.reload()
    await _delay_in_force(pair, f"{APPLY_DELAY_MS // 1000}s")
    try:
        yield
    finally:
        pair.configure(apply_delay_ms=0)
        pair.reload()
        check = await open_process(pair, None, "")
        try:
            await caught_up(check)
        finally:
            await check.close()


@pytest_asyncio.fixture(loop_scope="session")
async def lagging(replica_pair: ReplicaPair) -> AsyncIterator[ReplicaPair]:
    """The replica pair with the standby applying WAL 3 s late (restored afterwards)."""
    setup = await open_process(replica_pair, None, "")
    try:
        async with setup.write() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS rw_probe (k text PRIMARY KEY, v int)")
        await caught_up(setup)
    finally:
        await setup.close()
    async with applying_late(replica_pair):
        yield replica_pair


async def test_a_write_in_one_process_steers_the_next_read_in_another(
    lagging: ReplicaPair, redis_client: aioredis.Redis, key_prefix: str
) -> None:
    writer = await open_process(lagging, redis_client, key_prefix)
    reader = await open_process(lagging, redis_client, key_prefix)
    unshared = await open_process(lagging, None, key_prefix)  # the old per-process store
    try:
        for database in (writer, reader, unshared):
            await database.check_replicas()
        rounds, misses, unshared_misses = 20, 0, 0
        for i in range(rounds):
            key = uuid.uuid4().hex
            with consistency.caller(f"user-{i % 5}"):
                async with writer.write() as conn:
                    await conn.execute("INSERT INTO rw_probe VALUES ($1, $2)", key, i)
                misses += await reader.run_read(value_of, key) != i
                unshared_misses += await unshared.run_read(value_of, key) != i
        with consistency.caller("someone-else"):
            others_on_replica = await reader.run_read(on_standby)
        logger.info(
            "cross-process read-your-writes: %d/%d missed with Redis, %d/%d without",
            misses,
            rounds,
            unshared_misses,
            rounds,
        )
    finally:
        for database in (writer, reader, unshared):
            await database.close()
    assert misses == 0
    # The replica really was behind: a process that cannot see the position reads the past.
    assert unshared_misses > 0
    # Only the writers are kept off the replica.
    assert others_on_replica


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_redis_down_fails_no_write_and_keeps_reads_correct(lagging: ReplicaPair) -> None:
    dead = cache.connect(f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.2)
    writer = await open_process(lagging, dead, "t:")
    reader = await open_process(lagging, dead, "t:")
    try:
        for database in (writer, reader):
            await database.check_replicas()
        key = uuid.uuid4().hex
        with consistency.caller("user-down"):
            async with writer.write() as conn:  # must not fail: the write has committed
                await conn.execute("INSERT INTO rw_probe VALUES ($1, 7)", key)
            same_process = await writer.run_read(value_of, key)
            other_process = await reader.run_read(value_of, key)
        with consistency.caller(None):
            anonymous_on_replica = await reader.run_read(on_standby)
        failures = (writer.positions.redis_failures, reader.positions.redis_failures)
        # The writer still knows its caller's position locally.
        local = writer.positions.local.peek("user-down")
    finally:
        for database in (writer, reader):
            await database.close()
        await dead.aclose()
    assert (same_process, other_process) == (7, 7)
    assert failures[0] >= 1
    assert failures[1] >= 1
    assert local is not None
    assert local < consistency.UNKNOWN_POSITION
    # Without a caller there is nothing to look up: reads stay on the replica.
    assert anonymous_on_replica


async def eventually(probe: Callable[[], Awaitable[bool]], tries: int = 8) -> bool:
    """True once ``probe`` is; retried because a health check may briefly exclude the replica
    on a loaded machine (the read then goes to the primary and sees the write)."""
    for _ in range(tries):
        if await probe():
            return True
        await asyncio.sleep(0.1)
    return False


def _graphql_app(
    db: Database, gateway: Stack, redis: aioredis.Redis, settings: Settings
) -> Starlette:
    services = Services(
        users=LocalUsersClient(gateway.users_service), content=gateway.content, feed=gateway.feed
    )
    endpoint = build_graphql_app(settings, services, redis=redis, positions=db.positions)
    return Starlette(routes=[Route("/graphql", endpoint)])


async def test_gateway_returns_the_position_and_honours_it_from_another_caller(
    replica_pair: ReplicaPair,
    redis_client: aioredis.Redis,
    key_prefix: str,
    settings: Settings,
) -> None:
    db = await open_process(replica_pair, redis_client, key_prefix)
    try:
        gateway = build_stack(db=db, redis=redis_client, settings=settings)
        app = _graphql_app(db, gateway, redis_client, settings)
        tokens = AccessTokens(
            secret=settings.secret_key.get_secret_value(),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            ttl=settings.access_token_ttl,
        )
        names = []
        auth = []
        for _ in range(2):
            name = f"ra_{uuid.uuid4().hex[:10]}"
            user = await gateway.users_service.register(
                Actor.anonymous(tenant_id="default"),
                username=name,
                email=f"{name}@example.com",
                password="correct horse battery staple",
            )
            names.append(name)
            token = tokens.issue(user_id=user.id, tenant_id="default")
            auth.append({"Authorization": f"Bearer {token}"})
        await caught_up(db)
        author, reader = auth
        profile: dict[str, object] = {
            "query": "query($u: String!) { user(username: $u) { bio } }",
            "variables": {"u": names[0]},
        }
        update = {"query": 'mutation { updateProfile(bio: "fresh") { user { bio } } }'}
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
            applying_late(replica_pair),
        ):
            await db.check_replicas()
            query = await http.post("/graphql", json=profile, headers=reader)
            assert query.status_code == 200
            assert "x-nova-read-after" not in query.headers  # only after a write
            written = await http.post("/graphql", json=update, headers=author)
            assert written.status_code == 200, written.text
            position = int(written.headers["x-nova-read-after"])
            fresh = await http.post(
                "/graphql", json=profile, headers={**reader, "X-Nova-Read-After": str(position)}
            )

            async def stale() -> bool:
                read = await http.post("/graphql", json=profile, headers=reader)
                return bool(read.json()["data"]["user"]["bio"] != "fresh")

            lagging = await eventually(stale)
            bad = await http.post(
                "/graphql", json=profile, headers={**reader, "X-Nova-Read-After": "soon"}
            )
    finally:
        await db.close()
    assert position > 0
    # Another caller sending the position reads at least that fresh...
    assert fresh.json()["data"]["user"]["bio"] == "fresh"
    # ...while without it the replica still answered the past afterwards (replay is monotonic,
    # so it had not replayed the update when the fresh read ran either).
    assert lagging
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_anonymous_sign_up_then_login_with_the_returned_position(
    replica_pair: ReplicaPair,
    redis_client: aioredis.Redis,
    key_prefix: str,
    settings: Settings,
) -> None:
    db = await open_process(replica_pair, redis_client, key_prefix)
    name = f"su_{uuid.uuid4().hex[:10]}"
    password = "correct horse battery staple"
    register = {
        "query": "mutation($u: String!, $e: String!, $p: String!) {"
        " register(username: $u, email: $e, password: $p) { user { username } errors { code } } }",
        "variables": {"u": name, "e": f"{name}@example.com", "p": password},
    }
    login = {
        "query": "mutation($u: String!, $p: String!) {"
        " login(usernameOrEmail: $u, password: $p) { accessToken errors { code } } }",
        "variables": {"u": name, "p": password},
    }
    try:
        stack = build_stack(db=db, redis=redis_client, settings=settings)
        app = _graphql_app(db, stack, redis_client, settings)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
            applying_late(replica_pair),
        ):
            await db.check_replicas()
            signed_up = await http.post("/graphql", json=register)
            position = signed_up.headers.get("x-nova-read-after")
            fresh = await http.post(
                "/graphql", json=login, headers={"X-Nova-Read-After": position or ""}
            )

            async def stale() -> bool:
                attempt = await http.post("/graphql", json=login)
                errors = attempt.json()["data"]["login"]["errors"]
                return bool(errors == [{"code": "INVALID_CREDENTIALS"}])

            lagging = await eventually(stale)
    finally:
        await db.close()
    assert signed_up.json()["data"]["register"]["user"] == {"username": name}
    assert position is not None
    # Login with the position finds the account at once...
    assert fresh.json()["data"]["login"]["errors"] == []
    assert fresh.json()["data"]["login"]["accessToken"]
    # ...while without it the lagging replica did not have it yet, even afterwards.
    assert lagging
