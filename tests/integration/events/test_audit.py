"""The audit store: append-only for everyone, hash chain verified, tampering named."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from nova.platform.events import ConsumerPolicy, ConsumerRunner, audit

from ._support import write
from .test_consumer import stored

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog, Relay

pytestmark = pytest.mark.integration


async def _fill(db: Database, log: RedisStreamLog, relay: Relay, n: int) -> None:
    from nova.platform.events import Event

    events = [
        Event("UserRegistered" if i % 2 else "Blocked", "user", f"u{i % 4}", "default", {"i": i})
        for i in range(n)
    ]
    await write(db, *events)
    await relay.drain()
    runner = ConsumerRunner(audit.consumer(), db=db, log=log, policy=ConsumerPolicy(wait=0.05))
    await runner.drain()


async def test_the_chain_verifies_and_redelivery_appends_nothing(
    db: Database, log: RedisStreamLog, relay: Relay
) -> None:
    await _fill(db, log, relay, 12)
    async with db.write() as conn:
        e = stored("UserRegistered")
        assert await audit.append(conn, e) is True
        assert await audit.append(conn, e) is False
    async with db.read() as conn:
        result = await audit.verify(conn)
        versions = await conn.fetch(
            "SELECT aggregate_version FROM event_store WHERE aggregate_id = 'u1' ORDER BY seq"
        )
    assert result.ok
    assert result.checked == 13
    assert [r["aggregate_version"] for r in versions] == [1, 2, 3]


async def test_update_and_delete_are_refused_even_to_the_owner(
    db: Database, log: RedisStreamLog, relay: Relay
) -> None:
    await _fill(db, log, relay, 2)
    async with db.read() as conn:
        for sql in ("UPDATE event_store SET payload = '{}'", "DELETE FROM event_store"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)


async def test_a_non_owner_app_role_has_no_update_or_delete_privilege(
    db: Database, log: RedisStreamLog, relay: Relay
) -> None:
    await _fill(db, log, relay, 2)
    async with db.read() as conn:
        role = "nova_audit_app_test"
        await conn.execute(
            f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL;"
            " END $$"
        )
        await conn.execute(f"GRANT SELECT, INSERT ON event_store TO {role}")
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL ROLE {role}")
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.execute("DELETE FROM event_store")
        finally:
            await conn.execute(f"REVOKE ALL ON event_store FROM {role}")


async def test_tampering_is_named_by_nova_audit_verify(
    db: Database, database_url: str, log: RedisStreamLog, relay: Relay
) -> None:
    await _fill(db, log, relay, 6)
    async with db.read() as conn:
        target = await conn.fetchval("SELECT seq FROM event_store ORDER BY seq OFFSET 3 LIMIT 1")
        # An attacker with the owner's rights switches the guard off first.
        await conn.execute("ALTER TABLE event_store DISABLE TRIGGER event_store_no_update")
        await conn.execute("UPDATE event_store SET payload = '{\"i\": 99}' WHERE seq = $1", target)
    env = {**os.environ, "NOVA_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "nova"),
        "audit",
        "verify",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await proc.communicate()

    assert proc.returncode == 1
    assert f"audit chain broken at seq {target}" in err.decode()
