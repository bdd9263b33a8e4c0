"""Batch handlers: one effect per fetched batch, with the per-event guarantees intact.

The effect here is a PostgreSQL write on the claims' transaction (``chk_sink`` counts how often
each event was applied), so "exactly once" is checked exactly, rollbacks included.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.platform.events import BatchHandler, Consumer, ConsumerRunner, StoredEvent

from ._support import SINK_DDL, sink_counts
from .test_consumer import FAST, _history, _shuffled, stored

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from nova.platform.db import Database
    from nova.platform.events import RedisStreamLog

pytestmark = pytest.mark.integration

Row = tuple[uuid.UUID, str, int]


class Recorder:
    """A batch handler writing one ``chk_sink`` row per event with one statement per batch."""

    def __init__(self) -> None:
        self.batches: list[int] = []  # values per ``apply`` call
        self.down = False  # raise UnavailableError, as a sink whose dependency is down

    def prepare(self, event: StoredEvent) -> Row:
        if event.payload.get("poison"):
            raise ValueError("cannot digest this")
        return uuid.UUID(str(event.event_id)), event.aggregate_id, event.aggregate_version

    async def apply(self, rows: Sequence[Row], conn: asyncpg.Connection) -> None:
        self.batches.append(len(rows))
        await conn.executemany(
            "INSERT INTO chk_sink VALUES ($1, 1, $2, $3)"
            " ON CONFLICT (event_id) DO UPDATE SET applied = chk_sink.applied + 1",
            rows,
        )
        if self.down:
            raise errors.UnavailableError("the sink's store is down", dependency="chk")
        if any(aggregate_id == "refused" for _, aggregate_id, _ in rows):
            raise ValueError("the store refuses this row")  # after writing: rolled back

    def handler(self, *types: str) -> BatchHandler[Row]:
        return BatchHandler(frozenset(types or {"Tested"}), self.prepare, self.apply)


async def _sink_table(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(SINK_DDL)


async def test_a_batch_is_one_apply_without_duplicates_and_a_poison_is_rejected_alone(
    db: Database, log: RedisStreamLog
) -> None:
    await _sink_table(db)
    recorder = Recorder()
    consumer = Consumer("chk", handlers={}, batch=recorder.handler())
    runner = ConsumerRunner(consumer, db=db, log=log, policy=FAST)
    healthy = [stored() for _ in range(40)]
    poison = stored(poison=True)
    # One fetch: healthy events around the poison, two of them delivered twice, and a type
    # this consumer does not handle.
    await log.publish([*healthy[:20], poison, *healthy[20:], healthy[0], healthy[30]])
    await log.publish([stored("Other")])

    assert await runner.run_once(wait=0.05) == 44

    assert recorder.batches == [40]
    assert await sink_counts(db) == (40, 0)
    assert (runner.stats.applied, runner.stats.duplicates, runner.stats.failures) == (40, 2, 1)
    assert await log.pending("chk") == 1  # the poison

    for _ in range(50):
        await asyncio.sleep(FAST.redeliver_after)
        await runner.run_once(wait=0.05)
        if await log.dead_letter_count():
            break
    await runner.drain()

    dead = await log.dead_letters(limit=10)
    assert [(d.event.event_id, d.attempts) for d in dead] == [(poison.event_id, FAST.max_attempts)]
    assert dead[0].error == "ValueError('cannot digest this')"
    assert recorder.batches == [40]  # a batch with nothing left to apply calls nothing
    assert runner.stats.failures == FAST.max_attempts
    assert runner.stats.rolled_back == 0
    assert await log.pending("chk") == 0


async def test_a_failing_apply_rolls_the_batch_back_and_isolates_the_event_event_by_event(
    db: Database, log: RedisStreamLog
) -> None:
    await _sink_table(db)
    recorder = Recorder()
    runner = ConsumerRunner(
        Consumer("chk", handlers={}, batch=recorder.handler()), db=db, log=log, policy=FAST
    )
    healthy = [stored(aggregate_id=f"a{i}") for i in range(10)]
    refused = stored(aggregate_id="refused")
    await log.publish([*healthy[:5], refused, *healthy[5:]])

    await runner.run_once(wait=0.05)

    assert recorder.batches == [11] + [1] * 11  # the batch, then each event alone
    assert runner.stats.rolled_back == 1
    assert await sink_counts(db) == (10, 0)  # the batch's writes rolled back with its claims
    assert (runner.stats.applied, runner.stats.failures) == (10, 1)
    assert await log.pending("chk") == 1


async def test_an_unavailable_dependency_hands_the_whole_batch_back_uncounted(
    db: Database, log: RedisStreamLog
) -> None:
    await _sink_table(db)
    recorder = Recorder()
    runner = ConsumerRunner(
        Consumer("chk", handlers={}, batch=recorder.handler()), db=db, log=log, policy=FAST
    )
    await log.publish([stored() for _ in range(30)])
    recorder.down = True
    passes = FAST.max_attempts + 2  # outlasts the attempts budget

    for _ in range(passes):
        assert await runner.run_once(wait=0.05) == 30
        assert runner.pause > 0
    pending_during = await log.pending("chk")
    recorder.down = False
    await runner.drain()

    assert pending_during == 30
    assert recorder.batches == [30] * (passes + 1)
    assert (runner.stats.deferred, runner.stats.failures) == (30 * passes, 0)
    assert await log.dead_letter_count() == 0
    assert await sink_counts(db) == (30, 0)  # the writes of every failed pass rolled back
    assert await log.pending("chk") == 0


async def test_fenced_batches_doubled_and_shuffled_reach_the_in_order_state(
    db: Database, log: RedisStreamLog
) -> None:
    async with db.write() as conn:
        await conn.execute("CREATE TABLE chk_state (post text PRIMARY KEY, state text)")

    async def project(values: Sequence[tuple[str, str]], conn: asyncpg.Connection) -> None:
        # In log order, stale events left out: the last value per post wins.
        await conn.executemany(
            "INSERT INTO chk_state VALUES ($1, $2) ON CONFLICT (post)"
            " DO UPDATE SET state = EXCLUDED.state",
            values,
        )

    def state(event: StoredEvent) -> tuple[str, str]:
        return event.aggregate_id, {"Created": "live", "Edited": "edited"}.get(
            event.event_type, "deleted"
        )

    batch = BatchHandler(frozenset({"Created", "Edited", "Deleted"}), state, project)
    consumer = Consumer("proj", handlers={}, fenced=frozenset({"post"}), batch=batch)
    base = _history(150)
    await log.publish(_shuffled([e for e in base for _ in (0, 1)], 50))

    await ConsumerRunner(consumer, db=db, log=log, policy=FAST).drain()

    async with db.read() as conn:
        rows = await conn.fetch("SELECT post, state FROM chk_state")
    expected = {f"p{p}": ["live", "edited", "deleted"][p % 3] for p in range(150)}
    assert {r["post"]: r["state"] for r in rows} == expected
