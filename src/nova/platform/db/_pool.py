"""One asyncpg pool with a bounded, early-rejecting acquire (the primary's and each replica's)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any, cast

import asyncpg
from typing_extensions import override

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.platform.config import Settings

#: Errors that say the *server or the connection* failed, not the statement: the connection
#: is discarded and, on a replica, the breaker counts a failure.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash, cannot connect now
)


@dataclasses.dataclass(frozen=True, slots=True)
class PoolPolicy:
    """How a pool sizes itself and how long anything may wait.

    Attributes:
        size: Connections kept open (min = max: no connection storms on bursts).
        acquire_timeout: Seconds a caller may wait for a connection.
        command_timeout: Seconds one statement may run.
        connect_timeout: Seconds to open a connection.
        queue_ratio: Waiters allowed per pooled connection before the pool counts as full.
        reject_above: Utilization, ``(in use + waiting) / (size * (1 + queue_ratio))``, at or
            above which new acquires fail at once instead of queueing.
    """

    size: int = 10
    acquire_timeout: float = 2.0
    command_timeout: float = 5.0
    connect_timeout: float = 3.0
    queue_ratio: float = 1.0
    reject_above: float = 0.85

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolPolicy:
        """The primary pool's policy from the process settings."""
        return cls(
            size=settings.database_pool_size,
            acquire_timeout=settings.database_acquire_timeout,
            command_timeout=settings.database_command_timeout,
            connect_timeout=settings.database_connect_timeout,
        )


class _NoResetConnection(asyncpg.Connection):
    """A connection that skips asyncpg's reset query on release.

    Safe because Nova never leaves session state behind: settings are transaction-local
    (``set_config(..., true)``), no LISTEN runs on pooled connections and transactions are
    always closed by the context managers of :class:`~nova.platform.db.Database`. Skipping
    the round trip roughly doubles throughput of short queries (RELIABILITY.md).
    """

    @override
    def get_reset_query(self) -> str:
        return ""


@dataclasses.dataclass(slots=True)
class PoolStats:
    """Live numbers of one pool, exported as metrics."""

    size: int
    in_use: int = 0
    waiting: int = 0
    rejected: int = 0
    timeouts: int = 0
    statements: int = 0


class ManagedPool:
    """An asyncpg pool whose acquire is bounded and rejects early when saturated.

    Args:
        name: Bounded metrics label (``primary``, ``replica-0``).
        pool: The asyncpg pool.
        policy: Limits.
        stats: Counters to update (a new object when omitted).
    """

    def __init__(
        self,
        name: str,
        pool: asyncpg.Pool,
        policy: PoolPolicy,
        stats: PoolStats | None = None,
    ) -> None:
        self.name = name
        self.pool = pool
        self.policy = policy
        self.stats = stats or PoolStats(size=policy.size)

    @classmethod
    async def open(
        cls, name: str, url: str, policy: PoolPolicy, *, lazy: bool = False
    ) -> ManagedPool:
        """Open a pool at ``url``; ``lazy`` opens connections on first use (replicas).

        Raises:
            errors.UnavailableError: the server could not be reached within the connect timeout.
        """
        stats = PoolStats(size=policy.size)

        def _count(_record: Any) -> None:
            stats.statements += 1

        async def _init(conn: asyncpg.Connection) -> None:
            conn.add_query_logger(_count)

        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=0 if lazy else policy.size,
                max_size=policy.size,
                timeout=policy.connect_timeout,
                command_timeout=policy.command_timeout,
                connection_class=_NoResetConnection,
                max_inactive_connection_lifetime=300,
                init=_init,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise errors.UnavailableError(
                f"PostgreSQL ({name}) is unreachable: {type(exc).__name__}", dependency="postgres"
            ) from exc
        return cls(name, pool, policy, stats)

    @property
    def saturated(self) -> bool:
        """True when a new acquire would be rejected at once."""
        stats, policy = self.stats, self.policy
        capacity = policy.size * (1 + policy.queue_ratio)
        return stats.in_use + stats.waiting >= capacity * policy.reject_above

    async def checkout(self) -> asyncpg.Connection:
        """A connection, within the acquire timeout; hand it back with :meth:`checkin`.

        Raises:
            errors.PoolExhaustedError: saturated (at once) or nothing freed up in time.
            errors.UnavailableError: the server is unreachable.
        """
        stats = self.stats
        if self.saturated:
            stats.rejected += 1
            raise errors.PoolExhaustedError(
                "The database is saturated; retry shortly.", dependency="postgres"
            )
        stats.waiting += 1
        try:
            proxy = await self.pool.acquire(timeout=self.policy.acquire_timeout)
        except TimeoutError as exc:
            stats.rejected += 1
            raise errors.PoolExhaustedError(
                "No database connection became free in time; retry shortly.",
                dependency="postgres",
            ) from exc
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise errors.UnavailableError(
                "PostgreSQL is unreachable.", dependency="postgres"
            ) from exc
        except asyncpg.exceptions.OperatorInterventionError as exc:
            raise errors.UnavailableError(
                "PostgreSQL is shutting down or starting up.", dependency="postgres"
            ) from exc
        finally:
            stats.waiting -= 1
        stats.in_use += 1
        # The pool hands out proxies; callers use them exactly as connections.
        return cast("asyncpg.Connection", proxy)

    async def checkin(self, conn: asyncpg.Connection, *, broken: bool = False) -> None:
        """Return ``conn``; a ``broken`` one is terminated first, never reused."""
        self.stats.in_use -= 1
        if broken:
            self.stats.timeouts += 1
            # A connection whose statement timed out may still be mid-protocol (asyncpg
            # leaves it unusable): drop it, the pool opens a fresh one on demand.
            conn.terminate()
        await self.pool.release(cast("asyncpg.pool.PoolConnectionProxy[Any]", conn))

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """:meth:`checkout` for the block, discarding the connection on connection errors."""
        conn = await self.checkout()
        broken = False
        try:
            yield conn
        except CONNECTION_ERRORS:
            broken = True
            raise
        finally:
            await self.checkin(conn, broken=broken)

    async def close(self, *, grace: float) -> None:
        """Close gracefully within ``grace`` seconds, then terminate what is left."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.pool.close()
        self.pool.terminate()
