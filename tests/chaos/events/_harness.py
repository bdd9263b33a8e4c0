"""Chaos helpers: a relay subprocess to SIGKILL, the "nothing lost" checker, sink events."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from typing import TYPE_CHECKING

from nova.platform.events import ConsumerPolicy, StoredEvent
from nova.platform.ids import new_id

if TYPE_CHECKING:
    from nova.platform.db import Database


async def start_relay(database_url: str, redis_url: str, prefix: str) -> asyncio.subprocess.Process:
    """``python -m nova.platform.events.relay`` for this test's database and key prefix."""
    env = {
        **os.environ,
        "NOVA_DATABASE_URL": database_url,
        "NOVA_REDIS_URL": redis_url,
        "NOVA_REDIS_KEY_PREFIX": prefix,
        "NOVA_RELAY_POLL_INTERVAL": "0.05",
        "NOVA_RELAY_BATCH_SIZE": "50",
        "NOVA_EVENTS_TIMEOUT": "1.0",
        "NOVA_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nova.platform.events.relay",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL ``proc`` and reap it."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def unpublished(db: Database) -> int:
    """Outbox rows not yet published."""
    async with db.read() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def check(db: Database, acked: set[str], indeterminate: set[str]) -> dict[str, int]:
    """RELIABILITY.md's checker over ``chk_sink``: lost, unexpected and duplicated counts."""
    async with db.read() as conn:
        rows = await conn.fetch("SELECT event_id::text AS id, applied FROM chk_sink")
    sink = {r["id"] for r in rows}
    return {
        "lost": len(acked - sink),
        "unexpected": len(sink - (acked | indeterminate)),
        "duplicated": sum(1 for r in rows if r["applied"] > 1),
    }


#: Fast redelivery and a small attempts budget, so faults outlast it within a test.
SINK_POLICY = ConsumerPolicy(batch_size=100, wait=0.05, redeliver_after=0.05, max_attempts=3)


def sink_event(
    event_type: str, i: int, *, post: int | None = None, version: int = 1, **payload: object
) -> StoredEvent:
    """An event the analytics sink records: user ``u<i>`` on post ``post-<post>`` (default i)."""
    post_id = f"post-{i if post is None else post}"
    return StoredEvent(
        seq=0,
        event_id=new_id(),
        tenant_id="default",
        event_type=event_type,
        aggregate_type="post",
        aggregate_id=post_id,
        payload={"post_id": post_id, "user_id": f"u{i}", "author_id": "a", **payload},
        correlation_id=None,
        occurred_at=dt.datetime.now(dt.UTC),
        aggregate_version=version,
    )
