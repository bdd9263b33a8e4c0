"""Streaming replicas: which one may serve a read, and a periodic health and lag check.

A replica serves reads only while all of these hold:

- the last health check reached it within ``timeout`` and it is still a standby;
- its replay lag is at most ``max_lag`` seconds (lag is zero when it has replayed everything
  the primary has written, else the age of the last replayed transaction);
- its circuit breaker is not open (connection errors and timeouts on the request path open
  it at once, without waiting for the next health check);
- it has replayed past the caller's last write (read-your-writes, see ``consistency``).

Among those, the least busy pool wins; ties rotate. A replica that comes back passes the
health check and its breaker's half-open probe, and rejoins.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import asyncpg

from nova.platform.db._pool import CONNECTION_ERRORS, ManagedPool, PoolPolicy
from nova.platform.resilience import BreakerPolicy, BreakerState, CircuitBreaker

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.platform.config import Settings

__all__ = ["Replica", "ReplicaPolicy", "ReplicaSet"]

logger = logging.getLogger(__name__)

_HEALTH_SQL = """
SELECT pg_is_in_recovery() AS standby,
       (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replayed,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS age
"""
_PROBE_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)
PRIMARY_LSN_SQL = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"


@dataclasses.dataclass(frozen=True, slots=True)
class ReplicaPolicy:
    """How replicas are checked and when they are excluded.

    Attributes:
        timeout: Seconds for connecting, acquiring and each statement on a replica.
        health_interval: Seconds between health and lag checks.
        max_lag: Replay lag in seconds beyond which a replica serves no reads.
        breaker: Request-path breaker of each replica; its open period defaults to one
            health interval so a recovered replica is probed within two intervals.
    """

    timeout: float = 0.5
    health_interval: float = 1.0
    max_lag: float = 1.0
    breaker: BreakerPolicy | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicaPolicy:
        """The replicas' policy from the process settings."""
        return cls(
            timeout=settings.database_replica_timeout,
            health_interval=settings.database_replica_health_interval,
            max_lag=settings.database_replica_max_lag,
        )

    @property
    def position_ttl(self) -> float:
        """Seconds a caller's write position must be kept for read-your-writes.

        A replica still serving was at most ``max_lag`` behind at its last check, which is at
        most one interval (plus the check's own timeout) old: a write older than that has been
        replayed wherever reads may go. One second of slack covers clock and scheduling noise.
        """
        return self.max_lag + self.health_interval + self.timeout + 1.0

    def breaker_policy(self) -> BreakerPolicy:
        """The breaker policy, defaulted from the health interval."""
        # One strike: a connection error or timeout opens it. Routing around a replica costs
        # only primary capacity, while every read sent to a frozen one waits a full timeout.
        return self.breaker or BreakerPolicy(
            window=10,
            minimum_calls=1,
            failure_rate=0.1,
            open_seconds=self.health_interval,
            half_open_probes=1,
        )


class Replica:
    """One replica: its pool, breaker and last measured health.

    Attributes:
        healthy: Reachable, a standby, and within ``max_lag`` at the last check.
        replayed_lsn: WAL position (bytes) replayed at the last check.
        lag_seconds: Replay lag at the last check (None before the first one).
        lag_bytes: Primary position minus replayed position at the last check.
    """

    def __init__(self, index: int, url: str, pool: ManagedPool, breaker: CircuitBreaker) -> None:
        self.index = index
        self.url = url
        self.pool = pool
        self.breaker = breaker
        self.healthy = False
        self.reason = "not checked yet"
        self.replayed_lsn = 0
        self.lag_seconds: float | None = None
        self.lag_bytes: int | None = None
        self._probe: asyncpg.Connection | None = None

    @property
    def name(self) -> str:
        """Bounded metrics label."""
        return self.pool.name

    def set_health(self, healthy: bool, reason: str) -> None:
        """Record a health verdict, logging changes only."""
        if healthy != self.healthy:
            log = logger.info if healthy else logger.warning
            log(
                "replica %s",
                "rejoined" if healthy else "excluded",
                extra={"replica": self.name, "reason": reason, "lag_seconds": self.lag_seconds},
            )
        self.healthy = healthy
        self.reason = reason

    async def measure(self, *, limit: float) -> asyncpg.Record:
        """Run the health query on a dedicated connection, each step within ``limit`` s.

        Not through the pool: a saturated or poisoned pool must not hide a healthy server,
        nor the reverse.

        Raises:
            Exception: whatever connecting or querying raised; the probe is then discarded.
        """
        try:
            if self._probe is None or self._probe.is_closed():
                self._probe = await asyncpg.connect(self.url, timeout=limit)
            row = await self._probe.fetchrow(_HEALTH_SQL, timeout=limit)
        except BaseException:
            self.close_probe()
            raise
        if row is None:  # pragma: no cover - a SELECT without FROM always yields one row
            raise RuntimeError("health query returned no row")
        return row

    def close_probe(self) -> None:
        """Drop the health connection without waiting (the server may be frozen)."""
        if self._probe is not None:
            self._probe.terminate()
            self._probe = None


class ReplicaSet:
    """The replicas of one :class:`~nova.platform.db.Database` and their health loop."""

    def __init__(
        self, replicas: Sequence[Replica], *, policy: ReplicaPolicy, primary: ManagedPool
    ) -> None:
        self.replicas = list(replicas)
        self.policy = policy
        self._primary = primary
        self._turn = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, urls: Sequence[str], *, policy: ReplicaPolicy, primary: ManagedPool
    ) -> ReplicaSet:
        """Open lazy pools for ``urls`` (a replica that is down does not stop start-up)."""
        pool_policy = PoolPolicy(
            size=primary.policy.size,
            acquire_timeout=policy.timeout,
            command_timeout=policy.timeout,
            # Below the acquire timeout so a connect to a frozen replica times out inside
            # asyncpg (which closes it) rather than being cancelled by the acquire timeout,
            # which can drop a half-made connection unclosed.
            connect_timeout=policy.timeout * 0.8,
        )
        replicas = []
        for index, url in enumerate(urls):
            pool = await ManagedPool.open(f"replica-{index}", url, pool_policy, lazy=True)
            breaker = CircuitBreaker(f"replica-{index}", policy.breaker_policy())
            replicas.append(Replica(index, url, pool, breaker))
        return cls(replicas, policy=policy, primary=primary)

    def pick(self, required_lsn: int) -> Replica | None:
        """A replica admitted by its breaker that may serve this read, or None (primary)."""
        candidates = [
            r
            for r in self.replicas
            if r.healthy
            and r.replayed_lsn >= required_lsn
            and not r.pool.saturated
            and r.breaker.state is not BreakerState.OPEN
        ]
        if not candidates:
            return None
        self._turn += 1
        count = len(self.replicas)
        candidates.sort(key=lambda r: (r.pool.stats.in_use, (r.index - self._turn) % count))
        for replica in candidates:
            if replica.breaker.allow():
                return replica
        return None

    def serving(self) -> bool:
        """True when some replica may serve reads at all (cheap; no breaker probe used)."""
        return any(
            r.healthy and not r.pool.saturated and r.breaker.state is not BreakerState.OPEN
            for r in self.replicas
        )

    def replayed_everywhere(self) -> int:
        """The lowest replayed position among healthy replicas (0 when none is healthy)."""
        positions = [r.replayed_lsn for r in self.replicas if r.healthy]
        return min(positions) if positions else 0

    def start(self) -> None:
        """Run :meth:`check` every ``health_interval`` in the background."""
        if self._task is None and self.replicas:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Stop the health loop and close every replica pool."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for replica in self.replicas:
            replica.close_probe()
            await replica.pool.close(grace=self.policy.timeout * 2)

    async def check(self) -> None:
        """Measure every replica once (concurrently, each bounded by ``timeout``)."""
        primary_lsn = await self._primary_lsn()
        await asyncio.gather(*(self._check_one(r, primary_lsn) for r in self.replicas))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.health_interval)
            try:
                await self.check()
            except Exception:
                logger.exception("replica health check failed unexpectedly")

    async def _primary_lsn(self) -> int | None:
        try:
            async with asyncio.timeout(self.policy.timeout):
                async with self._primary.connection() as conn:
                    return int(await conn.fetchval(PRIMARY_LSN_SQL))
        except Exception:  # noqa: BLE001  # lag then falls back to replay age alone
            logger.warning("primary WAL position unavailable for the lag check")
            return None

    async def _check_one(self, replica: Replica, primary_lsn: int | None) -> None:
        timeout = self.policy.timeout
        started = time.monotonic()
        try:
            row = await replica.measure(limit=timeout)
        except _PROBE_ERRORS as exc:
            replica.set_health(False, f"unreachable: {type(exc).__name__}")
            # The check is a call too: open the breaker so reads stop trying at once.
            replica.breaker.record_failure()
            return
        if not row["standby"]:
            replica.set_health(False, "not a standby (promoted?)")
            return
        replica.replayed_lsn = int(row["replayed"] or 0)
        if primary_lsn is not None:
            replica.lag_bytes = max(0, primary_lsn - replica.replayed_lsn)
        caught_up = replica.lag_bytes == 0
        age = row["age"]
        replica.lag_seconds = 0.0 if caught_up else (float(age) if age is not None else None)
        lag = replica.lag_seconds
        if lag is None or lag > self.policy.max_lag:
            replica.set_health(False, f"lagging {lag if lag is not None else '?'} s")
            return
        replica.set_health(True, f"ok in {time.monotonic() - started:.3f} s")
