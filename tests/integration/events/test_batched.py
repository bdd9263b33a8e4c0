"""Batched consumers: one transaction per fetched batch, with the per-event guarantees intact."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from nova.platform.events import Applying, Consumer, ConsumerRunner, StoredEvent

from ._support import SINK_DDL, record, sink_counts
from .test_consumer import FAST, _history, _projector, _shuffled, stored

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog

pytestmark = pytest.mark.integration


async def _poisoned(event: StoredEvent, applying: Applying) -> None:
    await record(event, applying)  # written, then rolled back with the batch
    if event.payload.get("poison"):
        raise ValueError("cannot digest this")


async def test_a_poison_in_a_batch_is_isolated_and_every_other_event_applies_once(
    db: Database, log: RedisStreamLog
) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)
    consumer = Consumer("chk", handlers={"Tested": [_poisoned]}, batched=True)
    runner = ConsumerRunner(consumer, db=db, log=log, policy=FAST)
    healthy = [stored() for _ in range(40)]
    poison = stored(poison=True)
    # One fetch: healthy events around the poison, and two of them delivered twice.
    await log.publish([*healthy[:20], poison, *healthy[20:], healthy[0], healthy[30]])

    for _ in range(50):
        await runner.run_once(wait=0.05)
        if await log.dead_letters(limit=10):
            break
        await asyncio.sleep(FAST.redeliver_after)
    await runner.drain()

    dead = await log.dead_letters(limit=10)
    assert [(d.event.event_id, d.attempts) for d in dead] == [(poison.event_id, FAST.max_attempts)]
    assert await sink_counts(db) == (40, 0)  # the poison's own write rolled back every time
    assert (runner.stats.applied, runner.stats.duplicates) == (40, 2)
    assert runner.stats.failures == FAST.max_attempts
    assert await log.pending("chk") == 0


async def test_batched_fenced_delivery_doubled_and_shuffled_reaches_the_in_order_state(
    db: Database, log: RedisStreamLog
) -> None:
    async with db.write() as conn:
        await conn.execute(
            "CREATE TABLE chk_state (run text, post text, state text, PRIMARY KEY (run, post))"
        )
    base = _history(150)
    events = _shuffled([e for e in base for _ in (0, 1)], 50)
    handlers = {t: [_projector("batched")] for t in ("Created", "Edited", "Deleted")}
    consumer = Consumer("proj", handlers=handlers, fenced=frozenset({"post"}), batched=True)
    await log.publish(events)

    await ConsumerRunner(consumer, db=db, log=log, policy=FAST).drain()

    async with db.read() as conn:
        rows = await conn.fetch("SELECT post, state FROM chk_state WHERE run = 'batched'")
    expected = {f"p{p}": ["live", "edited", "deleted"][p % 3] for p in range(150)}
    assert {r["post"]: r["state"] for r in rows} == expected
