"""Consumer runners: at-least-once delivery from the event log, effects once per ``event_id``.

For each delivery, in one PostgreSQL transaction (one per fetched batch for a
``Consumer(batched=True)``, falling back to one per event when any event of it fails):

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

A handler raising :class:`~nova.platform.errors.UnavailableError` says a dependency is down,
not that the event is bad: that delivery and the rest of the batch are handed back uncounted
(``EventLog.defer``) and the runner pauses with capped backoff. An outage of any length
therefore acknowledges and dead-letters nothing; the backlog applies when it ends.

A :class:`BatchHandler` applies the events of its types with one effect per fetched batch
(one ``INSERT`` instead of one per event): each event is dedup-checked, claimed and fenced as
above in the batch's transaction, and the handler's ``apply`` runs once, before the commit, with
the events that passed. Its table says how its failures are isolated.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import asyncpg

from nova.platform import errors
from nova.platform.cache import REDIS_ERRORS
from nova.platform.events import inbox
from nova.platform.events._backoff import Backoff
from nova.platform.events.envelope import StoredEvent
from nova.platform.observability import handling, metrics

if TYPE_CHECKING:
    from nova.platform.db import Database
    from nova.platform.events.bloom import BloomFilter
    from nova.platform.events.log import Delivery, EventLog

__all__ = [
    "Applying",
    "BatchHandler",
    "Consumer",
    "ConsumerPolicy",
    "ConsumerRunner",
    "ConsumerStats",
    "EventHandler",
    "plain",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
class BatchHandler(Generic[T]):
    """One effect for all the events of ``types`` in a fetched batch (e.g. one ``INSERT``).

    Per event, the runner calls ``prepare`` (pure, e.g. build the rows) before any SQL of that
    event; then, in the transaction that claims the batch, ``apply`` once with the values of
    the events that passed dedup and fence, in log order. ``apply`` must be all or nothing, and
    idempotent outside PostgreSQL (a crash before the commit repeats it).

    ==============================  ===========================================================
    what fails                      what the runner does
    ==============================  ===========================================================
    ``prepare`` raises for one      that event alone counts a failed attempt (dead letter
    event                           after ``max_attempts``); the batch applies without it
    ``apply`` raises                rolls the batch back and hands it all back uncounted (a
    ``UnavailableError``            dependency is down, as for per-event handlers)
    ``apply`` raises anything else  rolls the batch back and applies it again event by event,
                                    ``apply`` with one value each, isolating the culprit
    ==============================  ===========================================================

    Example:
        >>> Consumer(  # doctest: +SKIP
        ...     "analytics",
        ...     handlers={},
        ...     batch=BatchHandler(frozenset({"Liked"}), prepare=to_rows, apply=insert_rows),
        ... )

    Attributes:
        types: Event types it applies; none of them may also have per-event handlers.
        prepare: Event → what ``apply`` needs; raising rejects that event (a poison event).
        apply: Apply the values of one batch (or of one event, when isolating a failure) on
            the transaction that claims their events.
    """

    types: frozenset[str]
    prepare: Callable[[StoredEvent], T]
    apply: Callable[[Sequence[T], asyncpg.Connection], Awaitable[None]]


@dataclasses.dataclass(frozen=True, slots=True)
class Consumer:
    """A named consumer: its group in the log and its key in the exact store.

    Attributes:
        name: Group and ``processed_events.consumer`` (stable across deployments).
        handlers: Event type → handlers, called in order; other types are acknowledged.
        fenced: Aggregate types whose versions this consumer fences.
        batched: Apply a fetched batch in one transaction (one commit per batch instead of per
            event). If any event fails, the batch rolls back and is applied event by event, so
            failures are isolated as usual, but non-PostgreSQL effects of the events before the
            failing one run twice. Only for quick handlers that need no earlier event's effect
            committed (the transaction and its fence locks are held for the whole batch).
        batch: Applies its event types once per fetched batch; implies ``batched``.

    Raises:
        ValueError: an event type has both per-event handlers and the batch handler.
    """

    name: str
    handlers: Mapping[str, Sequence[EventHandler]]
    fenced: frozenset[str] = frozenset()
    batched: bool = False
    batch: BatchHandler[Any] | None = None

    def __post_init__(self) -> None:
        if self.batch is not None and (both := self.batch.types.intersection(self.handlers)):
            raise ValueError(
                f"{self.name}: {sorted(both)} have per-event handlers and the batch handler;"
                " give each event type one of them"
            )

    def handles(self, event_type: str) -> bool:
        """True when this consumer applies ``event_type`` (it acknowledges others unseen)."""
        if self.batch is not None and event_type in self.batch.types:
            return True
        return bool(self.handlers.get(event_type))


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
    deferred: int = 0
    rolled_back: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class _Outcome:
    """What processing one delivery did (counted once its transaction has committed)."""

    kind: Literal["duplicate", "stale", "applied"]
    false_positive: bool = False


class _RejectedError(Exception):
    """A batch handler's ``prepare`` refused an event (a poison event); ``error`` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.error = error


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
        # Every series exists from the start (at 0), so rates and alerts see the first event.
        self._dedup = {
            k: metrics.EVENTS_DEDUP.labels(consumer.name, k) for k in metrics.DEDUP_KINDS
        }
        self._dead = metrics.EVENTS_DEAD_LETTERED.labels(consumer.name)
        self._outage = Backoff(f"consumer {consumer.name}")
        #: Seconds to wait before the next pass: a dependency was unavailable in the last one.
        self.pause = 0.0

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
        self.pause = 0.0
        if not deliveries:
            return 0
        ours: list[Delivery] = []
        skipped: list[Delivery] = []
        for delivery in deliveries:
            if delivery.attempts > self.policy.max_attempts:
                await self._dead_letter(
                    delivery, delivery.last_error or "attempts exhausted (consumer died)"
                )
            elif self.consumer.handles(delivery.event.event_type):
                ours.append(delivery)
            else:
                # Not ours: acknowledged with no transaction, record, Bloom entry or span (every
                # group reads every event; a busy type must not cost each group a span).
                metrics.EVENTS_HANDLED.labels(name, delivery.event.event_type, "skipped").inc()
                skipped.append(delivery)
        done: list[Delivery] = []
        if ours:
            maybe = await self._maybe_seen(ours)
            batched = self.consumer.batched or self.consumer.batch is not None
            apply = self._apply_batch if batched else self._apply
            done = await apply(list(zip(ours, maybe, strict=True)))
        if not self.pause and (done or skipped):
            self._outage.success()
        if self._bloom is not None and done:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._bloom.add([d.event.event_id.bytes for d in done])
        await self._log.ack(name, [d.position for d in [*skipped, *done]])
        return len(deliveries)

    async def _apply_batch(self, todo: Sequence[tuple[Delivery, bool]]) -> list[Delivery]:
        """All of ``todo`` in one transaction, with one batch ``apply``; isolate failures.

        The optimistic pass has no savepoints (they would cost two round trips per event). An
        event the batch handler rejects runs no SQL, so the others commit without it. A
        dependency down hands the whole batch back uncounted (nothing of it committed). Any
        other failure rolls the batch back and :meth:`_apply` redoes it event by event, which
        isolates the failure; non-PostgreSQL effects of the events before it run twice, as
        after any crash.
        """
        name, batch = self.consumer.name, self.consumer.batch
        outcomes: list[_Outcome] = []
        rejected: list[tuple[Delivery, Exception]] = []
        values: list[Any] = []
        try:
            async with self._db.write() as conn:
                for delivery, maybe_seen in todo:
                    try:
                        with handling.handling(delivery.event, consumer=name):
                            outcome = await self._process(
                                delivery, maybe_seen, conn=conn, into=values
                            )
                    except _RejectedError as exc:
                        rejected.append((delivery, exc.error))
                    else:
                        outcomes.append(outcome)
                if batch is not None and values:
                    await batch.apply(values, conn)
        except errors.UnavailableError as exc:
            unavailable: errors.UnavailableError | None = exc
        except Exception as exc:  # noqa: BLE001  # isolate the failure event by event
            logger.info("%s: batch rolled back (%r); applying it event by event", name, exc)
            self.stats.rolled_back += 1
            return await self._apply(todo)
        else:
            unavailable = None
        for delivery, error in rejected:
            await self._fail(delivery, error)
        failed = {delivery.position for delivery, _ in rejected}
        rest = [delivery for delivery, _ in todo if delivery.position not in failed]
        if unavailable is not None:
            if rest:
                await self._defer(rest, unavailable)
            return []
        for outcome in outcomes:
            self._count(outcome)
        return rest

    async def _apply(self, todo: Sequence[tuple[Delivery, bool]]) -> list[Delivery]:
        """Each delivery in its own transaction; return those done (applied or skipped)."""
        name = self.consumer.name
        done: list[Delivery] = []
        for index, (delivery, maybe_seen) in enumerate(todo):
            try:
                with handling.handling(delivery.event, consumer=name):
                    async with self._db.write() as conn:
                        outcome = await self._process(delivery, maybe_seen, conn=conn)
            except errors.UnavailableError as exc:
                await self._defer([d for d, _ in todo[index:]], exc)
                break
            except Exception as exc:  # noqa: BLE001  # any handler error: retry, then DLQ
                await self._fail(delivery, exc.error if isinstance(exc, _RejectedError) else exc)
                continue
            self._count(outcome)
            done.append(delivery)
        return done

    async def _fail(self, delivery: Delivery, exc: Exception) -> None:
        """Count a failed attempt at ``delivery``: retried later, dead-lettered after the last."""
        name = self.consumer.name
        self.stats.failures += 1
        logger.warning("%s: event %s failed: %r", name, delivery.event.event_id, exc)
        await self._log.record_failure(name, delivery.position, repr(exc))
        if delivery.attempts >= self.policy.max_attempts:
            await self._dead_letter(delivery, repr(exc))

    async def _dead_letter(self, delivery: Delivery, error: str) -> None:
        await self._log.dead_letter(self.consumer.name, delivery, error)
        self.stats.dead_letters += 1
        self._dead.inc()

    def _count(self, outcome: _Outcome) -> None:
        """Record one committed outcome in the stats and metrics."""
        if outcome.false_positive:
            self.stats.false_positives += 1
            self._dedup["false_positive"].inc()
        if outcome.kind == "applied":
            self.stats.applied += 1
        elif outcome.kind == "stale":
            self.stats.skipped_stale += 1
        elif outcome.kind == "duplicate":
            self.stats.duplicates += 1
            self._dedup["confirmed_duplicate"].inc()

    async def _defer(self, rest: Sequence[Delivery], exc: errors.UnavailableError) -> None:
        """A dependency is down: give ``rest`` back uncounted and pause before the next pass."""
        name, first = self.consumer.name, rest[0]
        logger.warning(
            "%s: event %s deferred, dependency down: %r", name, first.event.event_id, exc
        )
        await self._log.record_failure(name, first.position, repr(exc))
        await self._log.defer(name, self.member, rest)
        self.stats.deferred += len(rest)
        self.pause = self._outage.failure(exc)

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
        self._dedup["bloom_new"].inc(len(answers) - sum(answers))
        return answers

    async def _process(
        self,
        delivery: Delivery,
        maybe_seen: bool,
        *,
        conn: asyncpg.Connection,
        into: list[Any] | None = None,
    ) -> _Outcome:
        """Dedup, fence and apply one event on ``conn``, inside its transaction.

        An event of the batch handler is prepared before any SQL (so a rejection, raised as
        :class:`_RejectedError`, leaves the transaction untouched). Once it passes dedup and fence
        its value joins ``into``, for the batch's ``apply``, or is applied here without ``into``.
        """
        event, name = delivery.event, self.consumer.name
        batch = self.consumer.batch
        if batch is not None and event.event_type not in batch.types:
            batch = None
        value = _prepare(batch, event) if batch is not None else None
        if maybe_seen and await inbox.seen(conn, consumer=name, event_id=event.event_id):
            return _Outcome("duplicate")
        if not await inbox.claim(conn, consumer=name, event_id=event.event_id):
            return _Outcome("duplicate")  # another member applied it meanwhile
        previous = await self._fence(conn, event)
        if previous is not None and previous >= event.aggregate_version:
            return _Outcome("stale", false_positive=maybe_seen)
        applying = Applying(conn, previous, delivery.attempts)
        for handler in self.consumer.handlers.get(event.event_type, ()):
            await handler(event, applying)
        if batch is not None and into is not None:
            into.append(value)
        elif batch is not None:
            await batch.apply([value], conn)
        return _Outcome("applied", false_positive=maybe_seen)

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
            if self.pause:
                break  # a dependency is down: what is left stays pending for later
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
                if self.pause:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.pause)


def _prepare(batch: BatchHandler[T], event: StoredEvent) -> T:
    """``batch.prepare(event)``; any error it raises rejects the event (:class:`_RejectedError`)."""
    try:
        return batch.prepare(event)
    except Exception as exc:
        raise _RejectedError(exc) from exc
