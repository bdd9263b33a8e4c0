"""The outbox relay: publishes committed outbox rows to the event log, in order per aggregate.

How it never skips a row and keeps per-aggregate order with several relays running:

* **No cursor.** Each pass selects ``published_at IS NULL`` rows in ``seq`` order. A row whose
  transaction commits late (``seq`` order is not commit order) is simply invisible until it
  commits and is picked up by a later pass; nothing is ever skipped.
* **Order per aggregate.** ``outbox.append`` bumps ``aggregate_versions`` in the business
  transaction, so writers of one aggregate commit one after another and, within an aggregate,
  ``seq`` order is commit order. A pass can therefore never see a later row of an aggregate
  without the earlier ones.
* **Several relays.** Aggregates hash into ``relay_partitions`` partitions; a relay publishes
  only partitions whose session advisory lock it holds on its own connection (not the pool's).
  If it dies, PostgreSQL drops its locks and another relay takes the partitions over. The first
  relay takes every free partition; the others stand by (a hot standby, not load sharing).
  Rows are claimed ``FOR UPDATE`` (without SKIP LOCKED: skipping a locked row could publish a
  later row of the same aggregate first).
* **Wake-ups.** The same dedicated connection LISTENs on ``nova_outbox`` (an insert trigger
  NOTIFYs at commit); polling every ``relay_poll_interval`` is the fallback.
* **Broker down.** A circuit breaker plus capped, jittered backoff: no hot loop, and nothing is
  buffered beyond one batch (rows stay in the outbox, which keeps accepting writes). The
  backlog drains when the broker answers again.

Publishing is at least once: a crash between ``XADD`` and the commit republishes the batch;
consumers deduplicate by ``event_id``.

Run one with ``nova events relay`` or ``python -m nova.platform.events.relay`` (``NOVA_*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from typing import TYPE_CHECKING

import asyncpg

from nova.platform.events import _rows, inbox
from nova.platform.events._backoff import Backoff
from nova.platform.observability import handling, metrics
from nova.platform.resilience import BreakerPolicy, CircuitBreaker

if TYPE_CHECKING:
    from nova.platform.config import Settings
    from nova.platform.events.log import EventLog

__all__ = ["Relay", "RelayPolicy", "RelayStats", "outbox_lag", "run_relay"]

logger = logging.getLogger(__name__)

_LOCK_SPACE = 0x6E6F7661  # "nova": the advisory-lock key space of relay partitions
_CHANNEL = "nova_outbox"

_CLAIM = f"""
SELECT {_rows.COLUMNS}
FROM outbox
WHERE published_at IS NULL
  AND (hashtext(aggregate_type || ':' || aggregate_id) & 2147483647) % $2 = ANY($3::int[])
ORDER BY seq
LIMIT $1
FOR UPDATE
"""  # noqa: S608  # a constant column list, no input
_MARK = "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])"
_PRUNE = """
DELETE FROM outbox WHERE seq IN (
    SELECT seq FROM outbox
    WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1)
    LIMIT $2)
"""


@dataclasses.dataclass(frozen=True, slots=True)
class RelayPolicy:
    """How a relay batches, waits and retries.

    Attributes:
        batch_size: Rows per transaction (and the most it ever holds in memory).
        poll_interval: Seconds between polls without a NOTIFY.
        partitions: Aggregate partitions (same value in every relay of a deployment).
        retention: Seconds a published row is kept.
        dedup_retention: Seconds a ``processed_events`` row is kept (exact dedup store).
        prune_interval: Seconds between pruning passes.
        prune_batch: Rows deleted per statement while pruning.
        backoff_cap: Longest wait between attempts while the broker fails.
        command_timeout: Seconds any statement on the relay's connection may take.
    """

    batch_size: int = 500
    poll_interval: float = 1.0
    partitions: int = 8
    retention: float = 7 * 86_400
    dedup_retention: float = 14 * 86_400
    prune_interval: float = 60.0
    prune_batch: int = 10_000
    backoff_cap: float = 5.0
    command_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayPolicy:
        """The policy configured for this process."""
        return cls(
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval,
            partitions=settings.relay_partitions,
            retention=settings.outbox_retention_seconds,
            dedup_retention=settings.events_dedup_retention_seconds,
        )


@dataclasses.dataclass(slots=True)
class RelayStats:
    """Counters of one relay (exported as metrics)."""

    published: int = 0
    batches: int = 0
    failures: int = 0
    pruned: int = 0
    dedup_pruned: int = 0
    partitions: int = 0


async def outbox_lag(conn: asyncpg.Connection) -> float:
    """Age in seconds of the oldest unpublished outbox row (0 when none)."""
    age = await conn.fetchval(
        "SELECT EXTRACT(EPOCH FROM now() - min(occurred_at)) FROM outbox WHERE published_at IS NULL"
    )
    return float(age or 0.0)


class Relay:
    """Moves committed outbox rows to an event log.

    Args:
        dsn: PostgreSQL URL; the relay opens one dedicated connection (LISTEN, locks, claims).
        log: Where to publish.
        policy: Batching, waiting and retry policy.
    """

    def __init__(self, *, dsn: str, log: EventLog, policy: RelayPolicy | None = None) -> None:
        self._dsn = dsn
        self._log = log
        self.policy = policy or RelayPolicy()
        self.stats = RelayStats()
        self.breaker = CircuitBreaker(
            "event-log", BreakerPolicy(window=5, minimum_calls=2, open_seconds=1.0)
        )
        self._backoff = Backoff("relay", cap=self.policy.backoff_cap)
        self._conn: asyncpg.Connection | None = None
        self._owned: list[int] = []
        self._wake = asyncio.Event()
        self._last_prune = 0.0

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._owned = []
        self._conn = await asyncpg.connect(
            self._dsn,
            timeout=self.policy.command_timeout,
            command_timeout=self.policy.command_timeout,
        )
        await self._conn.add_listener(_CHANNEL, self._notified)
        return self._conn

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def _claim_partitions(self, conn: asyncpg.Connection) -> None:
        free = [p for p in range(self.policy.partitions) if p not in self._owned]
        if not free:
            return
        got = await conn.fetch(
            "SELECT p FROM unnest($2::int[]) AS p WHERE pg_try_advisory_lock($1, p)",
            _LOCK_SPACE,
            free,
        )
        self._owned = sorted([*self._owned, *(r["p"] for r in got)])
        self.stats.partitions = len(self._owned)

    async def publish_once(self) -> int:
        """Publish one batch; return its size (0 when nothing is due or no partition is ours).

        Raises:
            Exception: whatever the broker or PostgreSQL raised; nothing was marked published.
        """
        conn = await self._connection()
        await self._claim_partitions(conn)
        if not self._owned:
            return 0
        async with conn.transaction():
            rows = await conn.fetch(
                _CLAIM, self.policy.batch_size, self.policy.partitions, self._owned
            )
            if not rows:
                return 0
            events = [_rows.to_event(r) for r in rows]
            # Each event's PRODUCER span joins the trace of the request that wrote it.
            with handling.publishing(events):
                await self._log.publish(events)
            await conn.execute(_MARK, [r["seq"] for r in rows])
        self.stats.published += len(rows)
        self.stats.batches += 1
        metrics.EVENTS_PUBLISHED.inc(len(rows))
        return len(rows)

    async def drain(self) -> int:
        """Publish until nothing is due (tests, tools); return the number published."""
        total = 0
        while n := await self.publish_once():
            total += n
        return total

    async def prune(self) -> int:
        """Delete published rows and dedup records past their retentions; return outbox rows."""
        conn = await self._connection()
        batch, total = self.policy.prune_batch, 0
        while True:
            status = await conn.execute(_PRUNE, float(self.policy.retention), batch)
            deleted = int(status.split()[-1])
            total += deleted
            if deleted < batch:
                break
        self.stats.pruned += total
        self.stats.dedup_pruned += await inbox.prune(
            conn, retention=self.policy.dedup_retention, batch=batch
        )
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; survive broker and database outages."""
        try:
            while not stop.is_set():
                delay = await self._step()
                if delay:
                    self._wake.clear()
                    # Backing off after a failure, a commit's NOTIFY must not cut the wait
                    # short: under a write burst that is a busy loop against a dead broker.
                    wakers = (stop,) if self._backoff.failures else (stop, self._wake)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_first(*wakers), timeout=delay)
        finally:
            await self.close()

    async def _step(self) -> float:
        """One pass; returns how long to wait before the next one (0 = go on at once)."""
        if not self.breaker.allow():
            return self._backoff.failure(RuntimeError("circuit open"))
        try:
            published = await self.publish_once()
            if time.monotonic() - self._last_prune > self.policy.prune_interval:
                self._last_prune = time.monotonic()
                await self.prune()
        except (Exception, asyncio.CancelledError) as exc:
            if not isinstance(exc, Exception):
                self.breaker.abandon()
                raise
            self.breaker.record_failure()
            self.stats.failures += 1
            logger.warning("relay pass failed: %r", exc)
            if isinstance(exc, (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)):
                await self._drop_connection()
            return self._backoff.failure(exc)
        self.breaker.record_success()
        self._backoff.success()
        return 0.0 if published >= self.policy.batch_size else self.policy.poll_interval

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None
        self._owned = []

    async def close(self) -> None:
        """Close the dedicated connection (its advisory locks go with it)."""
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), timeout=2)
        await self._drop_connection()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def run_relay(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run one relay for ``settings`` until ``stop`` (or SIGTERM/SIGINT when ``stop`` is None)."""
    from nova.platform.events import redis_log

    dsn = _secret(settings.database_url, "NOVA_DATABASE_URL").split(",")[0]
    url = _secret(settings.events_url or settings.redis_url, "NOVA_EVENTS_URL")
    log = redis_log.connect(url, prefix=settings.redis_key_prefix, timeout=settings.events_timeout)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        await Relay(dsn=dsn, log=log, policy=RelayPolicy.from_settings(settings)).run(stop)
    finally:
        await log.aclose()


def _secret(value: object, name: str) -> str:
    raw = getattr(value, "get_secret_value", lambda: None)()
    if not raw:
        raise RuntimeError(f"{name} is unset")
    return str(raw)


if __name__ == "__main__":
    from nova.platform.config import load_settings

    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_relay(load_settings()))
