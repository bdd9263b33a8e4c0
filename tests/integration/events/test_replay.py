"""``nova events replay``: accounts and blocks rebuilt from the audited events, tampering named."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from nova.platform.cache import VersionedCache
from nova.platform.context import Actor
from nova.platform.events import ConsumerPolicy, ConsumerRunner, audit, replay
from nova.platform.events.replay import Difference, DifferenceKind
from nova.users import UsersService

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from nova.platform.config import Settings
    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog, Relay
    from nova.users import User

pytestmark = pytest.mark.integration

TENANT = "default"


async def _people(
    db: Database, settings: Settings, redis_client: aioredis.Redis, key_prefix: str
) -> tuple[UsersService, dict[str, User]]:
    """Three accounts through the service; ann blocks bob and cid, lifts cid's; bob blocks cid."""
    users = UsersService(
        db, settings=settings, cache=VersionedCache(redis_client, prefix=key_prefix)
    )
    anonymous = Actor.anonymous(tenant_id=TENANT)
    people = {
        name: await users.register(
            anonymous, username=name, email=f"{name}@example.com", password="correct horse 1"
        )
        for name in ("ann", "bob", "cid")
    }

    def acting(name: str) -> Actor:
        return Actor.user(people[name].id, tenant_id=TENANT)

    await users.block(acting("ann"), target_id=people["bob"].id)
    await users.block(acting("ann"), target_id=people["cid"].id)
    await users.unblock(acting("ann"), target_id=people["cid"].id)
    await users.block(acting("bob"), target_id=people["cid"].id)
    return users, people


async def _audit(db: Database, log: RedisStreamLog, relay: Relay) -> None:
    await relay.drain()
    runner = ConsumerRunner(audit.consumer(), db=db, log=log, policy=ConsumerPolicy(wait=0.05))
    await runner.drain()


async def _compare(db: Database) -> replay.ReplayReport:
    async with db.read(primary=True) as conn:
        return await replay.compare(conn)


async def test_a_clean_state_replays_without_differences(
    db: Database,
    settings: Settings,
    redis_client: aioredis.Redis,
    key_prefix: str,
    log: RedisStreamLog,
    relay: Relay,
) -> None:
    await _people(db, settings, redis_client, key_prefix)
    before = await _compare(db)  # committed but not yet audited: folded from the outbox
    await _audit(db, log, relay)

    after = await _compare(db)

    assert before.differences == ()
    assert (before.recorded, before.pending) == (0, 7)
    assert after.differences == ()
    assert (after.recorded, after.pending) == (7, 0)
    assert after.rows == {"users": 3, "blocks": 2}


async def test_tampered_tables_are_reported_row_by_row_and_the_cli_exits_1(
    db: Database,
    database_url: str,
    settings: Settings,
    redis_client: aioredis.Redis,
    key_prefix: str,
    log: RedisStreamLog,
    relay: Relay,
) -> None:
    _users, p = await _people(db, settings, redis_client, key_prefix)
    await _audit(db, log, relay)
    ann, bob, cid = (str(p[n].id) for n in ("ann", "bob", "cid"))
    async with db.write() as conn:  # someone with table access, around the services
        await conn.execute("DELETE FROM blocks WHERE blocker_id = $1", p["ann"].id)
        await conn.execute(
            "INSERT INTO blocks (tenant_id, blocker_id, blocked_id) VALUES ($1, $2, $3)",
            TENANT,
            p["cid"].id,
            p["ann"].id,
        )
        await conn.execute("UPDATE users SET username = 'bobby' WHERE id = $1", p["bob"].id)

    report = await _compare(db)

    assert report.differences == (
        Difference(
            DifferenceKind.MISMATCH,
            "users",
            (("id", bob),),
            field="username",
            expected="bob",
            actual="bobby",
        ),
        Difference(DifferenceKind.MISSING, "blocks", (("blocker_id", ann), ("blocked_id", bob))),
        Difference(DifferenceKind.EXTRA, "blocks", (("blocker_id", cid), ("blocked_id", ann))),
    )
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "nova"),
        "events",
        "replay",
        env={**os.environ, "NOVA_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()

    assert proc.returncode == 1
    lines = out.decode().splitlines()
    assert f"missing blocks blocker_id={ann},blocked_id={bob}: in the events, not in the table" in (
        lines
    )
    assert f"extra blocks blocker_id={cid},blocked_id={ann}: in the table, not in the events" in (
        lines
    )
    assert f"mismatch users id={bob} username: events say 'bob', table has 'bobby'" in lines
    assert "3 differences" in err.decode()
