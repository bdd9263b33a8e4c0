"""Consumer runners: at-least-once delivery from the event log, effects once per ``event_id``.

For each delivery, in one PostgreSQL transaction:

1. **Dedup.** The Bloom filter answers "certainly new" without a lookup; a "maybe seen" is
   confirmed against ``processed_events`` and only a confirmed duplicate is skipped (a false
   positive costs one query, never an event). ``inbox.claim`` then records the event; its
   unique key is the final word if two members race on one event.
2. **Fence.** For aggregates the consumer fences, ``event_fences`` keeps the last applied
   version; an event at or below it is stale and skipped, so a late create never resurrects a
   deletion. Handlers see the previous version (``None`` = nothing applied yet), which lets an
   "undo" event skip the undo of something never done.
3. **Effect.** Handlers get the transaction's connection: a PostgreSQL effect commits
   atomically with the claim (exactly once); other effects (Redis, ClickHouse) must be
   idempotent, as a crash after them and before the commit repeats them.

Then the event joins the Bloom filter and is acknowledged. A handler error leaves the
delivery pending with the error recorded; after ``redeliver_after`` it is retried (by any
member) and after ``max_attempts`` it goes to the dead-letter stream with that error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import asyncpg

from nova.platform.cache import REDIS_ERRORS
from nova.platform.events import inbox
from nova.platform.observability import handling

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events.bloom import BloomFilter
    from nova.platform.events.envelope import StoredEvent
    from nova.platform.events.log import Delivery, EventLog

__all__ = [
    "Applying",
    "Consumer",
    "ConsumerPolicy",
    "ConsumerRunner",
    "ConsumerStats",
    "EventHandler",
    "plain",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Applying:
    """What a handler may use while applying one event.

    Attributes:
        conn: The transaction that records the event as processed.
        previous_version: Last applied version of a fenced aggregate (``None``: none yet).
        attempt: Delivery attempt, from 1.
    """

    conn: asyncpg.Connection
    previous_version: int | None
    attempt: int


EventHandler = Callable[["StoredEvent", Applying], Awaitable[None]]


def plain(handler: Callable[[StoredEvent], Awaitable[None]]) -> EventHandler:
    """Adapt an outbox-worker style handler (event only) to an :data:`EventHandler`."""

    async def call(event: StoredEvent, _applying: Applying) -> None:
        await handler(event)

    return call


@dataclasses.dataclass(frozen=True, slots=True)
class Consumer:
    """A named consumer: its group in the log and its key in the exact store.

    Attributes:
        name: Group and ``processed_events.consumer`` (stable across deployments).
        handlers: Event type → handlers, called in order; other types are acknowledged.
        fenced: Aggregate types whose versions this consumer fences.
    """

    name: str
    handlers: Mapping[str, Sequence[EventHandler]]
    fenced: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True)
class ConsumerPolicy:
    """Batching and retry policy of a runner."""

    batch_size: int = 100
    wait: float = 1.0
    redeliver_after: float = 30.0
    max_attempts: int = 5


@dataclasses.dataclass(slots=True)
class ConsumerStats:
    """Counters of one runner (exported as metrics)."""

    applied: int = 0
    skipped_stale: int = 0
    bloom_new: int = 0
    bloom_maybe: int = 0
    duplicates: int = 0
    false_positives: int = 0
    failures: int = 0
    dead_letters: int = 0


class _Duplicate(Exception):  # noqa: N818  # control flow: roll back, it is not an error
    pass


class ConsumerRunner:
    """Runs one :class:`Consumer` as one member of its group.

    Args:
        consumer: What to run.
        db: Where the exact store, the fences and PostgreSQL effects live.
        log: The event log.
        bloom: Fast "certainly new" answers; ``None`` always asks the exact store.
        policy: Batching and retries.
        member: This member's name in the group (defaults to host and pid).
    """

    def __init__(
        self,
        consumer: Consumer,
        *,
        db: Database,
        log: EventLog,
        bloom: BloomFilter | None = None,
        policy: ConsumerPolicy | None = None,
        member: str | None = None,
    ) -> None:
        self.consumer = consumer
        self._db = db
        self._log = log
        self._bloom = bloom
        self.policy = policy or ConsumerPolicy()
        self.member = member or f"{socket.gethostname()}:{os.getpid()}"
        self.stats = ConsumerStats()
        self._ready = False

    async def run_once(self, *, wait: float | None = None) -> int:
        """Fetch one batch and process it; return how many deliveries it held."""
        name = self.consumer.name
        if not self._ready:
            await self._log.ensure_group(name)
            self._ready = True
        deliveries = await self._log.fetch(
            name,
            self.member,
            limit=self.policy.batch_size,
            wait=self.policy.wait if wait is None else wait,
            redeliver_after=self.policy.redeliver_after,
        )
        if not deliveries:
            return 0
        maybe = await self._maybe_seen(deliveries)
        done: list[Delivery] = []
        for delivery, maybe_seen in zip(deliveries, maybe, strict=True):
            if delivery.attempts > self.policy.max_attempts:
                await self._log.dead_letter(
                    name, delivery, delivery.last_error or "attempts exhausted (consumer died)"
                )
                self.stats.dead_letters += 1
                continue
            try:
                with handling.handling(delivery.event, consumer=name):
                    await self._process(delivery, maybe_seen=maybe_seen)
            except Exception as exc:  # noqa: BLE001  # any handler error: retry, then DLQ
                self.stats.failures += 1
                logger.warning("%s: event %s failed: %r", name, delivery.event.event_id, exc)
                await self._log.record_failure(name, delivery.position, repr(exc))
                if delivery.attempts >= self.policy.max_attempts:
                    await self._log.dead_letter(name, delivery, repr(exc))
                    self.stats.dead_letters += 1
                continue
            done.append(delivery)
        if self._bloom is not None and done:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._bloom.add([d.event.event_id.bytes for d in done])
        await self._log.ack(name, [d.position for d in done])
        return len(deliveries)

    async def _maybe_seen(self, deliveries: Sequence[Delivery]) -> list[bool]:
        if self._bloom is None:
            return [True] * len(deliveries)
        try:
            answers = await self._bloom.maybe_contains([d.event.event_id.bytes for d in deliveries])
        except REDIS_ERRORS as exc:
            logger.warning("bloom filter unavailable, asking the exact store: %r", exc)
            return [True] * len(deliveries)
        self.stats.bloom_maybe += sum(answers)
        self.stats.bloom_new += len(answers) - sum(answers)
        return answers

    async def _process(self, delivery: Delivery, *, maybe_seen: bool) -> None:
        event, name = delivery.event, self.consumer.name
        handlers = self.consumer.handlers.get(event.event_type, ())
        if not handlers:
            return  # not ours: recording it would also move fences past events we do handle
        with contextlib.suppress(_Duplicate):
            async with self._db.write() as conn:
                if maybe_seen and await inbox.seen(conn, consumer=name, event_id=event.event_id):
                    raise _Duplicate
                if not await inbox.claim(conn, consumer=name, event_id=event.event_id):
                    raise _Duplicate  # another member applied it meanwhile
                if maybe_seen:
                    self.stats.false_positives += 1
                previous = await self._fence(conn, event)
                if previous is not None and previous >= event.aggregate_version:
                    self.stats.skipped_stale += 1
                    return
                applying = Applying(conn, previous, delivery.attempts)
                for handler in handlers:
                    await handler(event, applying)
                self.stats.applied += 1
            return
        self.stats.duplicates += 1

    async def _fence(self, conn: asyncpg.Connection, event: StoredEvent) -> int | None:
        if event.aggregate_type not in self.consumer.fenced or event.aggregate_version <= 0:
            return None
        key = f"{self.consumer.name}:{event.aggregate_type}:{event.aggregate_id}"
        # Serializes members on one aggregate; the statement below then reads a fresh snapshot.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        previous: int | None = await conn.fetchval(
            """
            WITH prev AS (
                SELECT version FROM event_fences
                WHERE consumer = $1 AND aggregate_type = $2 AND aggregate_id = $3),
            up AS (
                INSERT INTO event_fences AS f (consumer, aggregate_type, aggregate_id, version)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (consumer, aggregate_type, aggregate_id)
                DO UPDATE SET version = GREATEST(f.version, EXCLUDED.version))
            SELECT version FROM prev
            """,
            self.consumer.name,
            event.aggregate_type,
            event.aggregate_id,
            event.aggregate_version,
        )
        return previous

    async def drain(self, *, idle_rounds: int = 1) -> int:
        """Process until a fetch comes back empty ``idle_rounds`` times; return the count."""
        total, idle = 0, 0
        while idle < idle_rounds:
            n = await self.run_once(wait=0.05)
            total += n
            idle = 0 if n else idle + 1
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, backing off while the log or database fails."""
        delay = 0.1
        while not stop.is_set():
            try:
                await self.run_once()
            except (Exception, asyncio.CancelledError) as exc:
                if not isinstance(exc, Exception):
                    raise
                logger.warning("%s: consumer pass failed: %r", self.consumer.name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)
            else:
                delay = 0.1
