"""PostgreSQL access: a primary pool, replica pools, intent routing, fail-fast acquisition.

Code declares intent: :meth:`Database.write` opens a transaction on the primary;
:meth:`Database.run_read` runs a read on a healthy replica that has replayed the caller's last
write, else on the primary (see :mod:`~nova.platform.db.replicas` and
:mod:`~nova.platform.db.consistency`), and re-runs it once on the primary when a replica fails
mid-query or cancels it for a recovery conflict. Request paths read only through
:meth:`~Database.run_read` (``tests/unit/platform/test_read_paths.py`` keeps it so);
:meth:`Database.read` hands out a held connection without that retry, for tools, tests and
primary-only reads.

Every acquire is bounded by ``database_acquire_timeout`` and is rejected at once with a
retryable :class:`~nova.platform.errors.PoolExhaustedError` when the pool (counting waiters)
is above its utilization threshold, so an overloaded process sheds load instead of queueing
forever; falling back from replicas to the primary is bounded the same way. Every statement
is bounded by ``database_command_timeout``; a connection whose statement timed out is
terminated rather than returned to the pool (asyncpg leaves it unusable).

Example:
    >>> async with db.write() as conn:          # doctest: +SKIP
    ...     await conn.execute("UPDATE posts SET like_count = like_count + 1 WHERE id = $1", pid)
    >>> await db.run_read(store.find_post, post_id)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import asyncpg

from nova.platform import errors
from nova.platform.db import consistency, metrics
from nova.platform.db._pool import CONNECTION_ERRORS, ManagedPool, PoolPolicy, PoolStats
from nova.platform.db.replicas import PRIMARY_LSN_SQL, Replica, ReplicaPolicy, ReplicaSet

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    import redis.asyncio as aioredis

    from nova.platform.config import Settings

__all__ = ["Connection", "Database", "PoolPolicy", "PoolStats"]

logger = logging.getLogger(__name__)

Connection = asyncpg.Connection
T = TypeVar("T")
P = ParamSpec("P")

#: Replica failures after which :meth:`Database.run_read` re-runs the read on the primary.
_FALLBACK_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.SerializationError)
_POSITION_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)


class Database:
    """The PostgreSQL pools of one process.

    Build it with :meth:`connect` inside an application lifespan and :meth:`close` it there.

    Attributes:
        stats: The primary pool's live numbers.
        fallbacks: Reads re-run on the primary after a replica failed them.
    """

    def __init__(
        self,
        *,
        primary: asyncpg.Pool | ManagedPool,
        policy: PoolPolicy,
        replicas: ReplicaSet | None = None,
        positions: consistency.CallerPositions | None = None,
    ) -> None:
        self._primary = (
            primary if isinstance(primary, ManagedPool) else ManagedPool("primary", primary, policy)
        )
        self._policy = policy
        self._replicas = replicas
        self.positions = positions or consistency.CallerPositions()
        self.stats = self._primary.stats
        self.fallbacks = 0
        metrics.track(self)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        policy: PoolPolicy | None = None,
        replica_urls: Sequence[str] = (),
        replica_policy: ReplicaPolicy | None = None,
        positions: consistency.CallerPositions | None = None,
    ) -> Database:
        """Open the primary pool at ``url`` (verifying it answers) and lazy replica pools.

        A replica that is down at start-up does not fail it: it is excluded until its health
        check passes.

        Args:
            url: The primary.
            policy: The primary pool's policy.
            replica_urls: Streaming replicas that serve reads.
            replica_policy: How replicas are checked and excluded.
            positions: Where callers' write positions are kept (process-local when omitted).

        Raises:
            errors.UnavailableError: the primary could not be reached within the connect timeout.
        """
        policy = policy or PoolPolicy()
        primary = await ManagedPool.open("primary", url, policy)
        replicas = None
        if replica_urls:
            replicas = await ReplicaSet.open(
                replica_urls, policy=replica_policy or ReplicaPolicy(), primary=primary
            )
            await replicas.check()
            replicas.start()
        return cls(primary=primary, policy=policy, replicas=replicas, positions=positions)

    @classmethod
    async def from_settings(
        cls, settings: Settings, *, url: str, redis: aioredis.Redis | None
    ) -> Database:
        """:meth:`connect` as a process is configured: pools, replicas, shared positions.

        Args:
            settings: Pool sizes, timeouts, replica URLs and policy, Redis key prefix.
            url: The primary (resolved: embedded or external).
            redis: The process's fail-fast client, through which every process shares
                read-your-writes positions; None keeps them in this process.
        """
        return await cls.connect(
            url,
            policy=PoolPolicy.from_settings(settings),
            replica_urls=settings.replica_urls,
            replica_policy=ReplicaPolicy.from_settings(settings),
            positions=consistency.CallerPositions.from_settings(settings, redis=redis),
        )

    @property
    def policy(self) -> PoolPolicy:
        """The policy the primary pool runs with."""
        return self._policy

    @property
    def pools(self) -> list[ManagedPool]:
        """The primary pool, then each replica's."""
        return [self._primary, *(r.pool for r in self.replicas)]

    @property
    def replicas(self) -> list[Replica]:
        """The configured replicas with their health, lag and breaker."""
        return self._replicas.replicas if self._replicas is not None else []

    async def check_replicas(self) -> None:
        """Run the replica health check now (it also runs every health interval)."""
        if self._replicas is not None:
            await self._replicas.check()

    async def close(self) -> None:
        """Close every pool, waiting briefly for connections in use."""
        if self._replicas is not None:
            await self._replicas.close()
        await self._primary.close(grace=5)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[asyncpg.Connection]:
        """A primary connection inside a transaction that commits when the block exits.

        With replicas and a caller (:func:`~nova.platform.db.consistency.caller`), the WAL
        position after commit is recorded so the caller's next reads see this write.
        """
        async with self._primary.connection() as conn:
            async with conn.transaction():
                yield conn
            key = consistency.current_caller()
            if self._replicas is not None and key is not None:
                await self._record_position(conn, key)

    @contextlib.asynccontextmanager
    async def read(self, *, primary: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A held connection for reads: a fitting replica, else the primary.

        No retry: a replica failure or recovery conflict inside the block reaches the caller.
        Request paths use :meth:`run_read`; this is for tools, tests and primary reads.

        Args:
            primary: Read from the primary regardless (read-modify-write outside a
                transaction, or anything that must see the very latest commit).
        """
        replica = None if primary else await self._route()
        conn = await self._checkout_replica(replica) if replica is not None else None
        if replica is not None and conn is not None:
            async with self._on_replica(replica, conn) as used:
                yield used
            return
        async with self._primary.connection() as used:
            yield used

    async def run_read(
        self,
        fn: Callable[Concatenate[asyncpg.Connection, P], Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await fn(conn, *args, **kwargs)`` on a fitting replica, else the primary.

        If the replica fails the read it is re-run once on the primary: a lost connection, a
        timeout (frozen replica) or a query cancelled by a recovery conflict (SQLSTATE 40001
        on a standby). ``fn`` must be safe to run twice (reads are). A read of several
        statements is one ``fn`` (a local ``async def``), so a retry re-runs all of them.
        Inside :func:`~nova.platform.db.consistency.primary_only` it goes to the primary.

        Example:
            >>> user = await db.run_read(store.get_user, tenant_id=t, user_id=u)  # doctest: +SKIP
        """
        replica = await self._route()
        conn = await self._checkout_replica(replica) if replica is not None else None
        if replica is not None and conn is not None:
            try:
                async with self._on_replica(replica, conn) as used:
                    return await fn(used, *args, **kwargs)
            except _FALLBACK_ERRORS as exc:
                self.fallbacks += 1
                logger.warning(
                    "replica read failed; retrying on the primary",
                    extra={"replica": replica.name, "error": type(exc).__name__},
                )
        async with self._primary.connection() as used:
            return await fn(used, *args, **kwargs)

    async def _route(self) -> Replica | None:
        replicas = self._replicas
        if replicas is None or consistency.pinned_to_primary() or not replicas.serving():
            return None  # no position lookup (a Redis call) when the primary serves anyway
        required = await self.positions.required(
            consistency.current_caller(), replayed_everywhere=replicas.replayed_everywhere()
        )
        return replicas.pick(max(required, consistency.current_read_after()))

    async def _checkout_replica(self, replica: Replica) -> asyncpg.Connection | None:
        try:
            return await replica.pool.checkout()
        except errors.PoolExhaustedError:
            replica.breaker.abandon()  # busy, not broken: the primary takes this read
        except errors.UnavailableError:
            replica.breaker.record_failure()
        return None

    @contextlib.asynccontextmanager
    async def _on_replica(
        self, replica: Replica, conn: asyncpg.Connection
    ) -> AsyncIterator[asyncpg.Connection]:
        started = time.monotonic()
        broken = True
        try:
            yield conn
        except CONNECTION_ERRORS:
            replica.breaker.record_failure()
            raise
        except Exception:
            broken = False  # the statement's fault (or a recovery conflict), not the server's
            replica.breaker.record_success(time.monotonic() - started)
            raise
        except BaseException:
            # Cancelled mid-statement: the connection may be mid-protocol; drop it.
            replica.breaker.abandon()
            raise
        else:
            broken = False
            replica.breaker.record_success(time.monotonic() - started)
        finally:
            await replica.pool.checkin(conn, broken=broken)

    async def _record_position(self, conn: asyncpg.Connection, key: str) -> None:
        try:
            lsn = int(await conn.fetchval(PRIMARY_LSN_SQL))
        except _POSITION_ERRORS:
            # The write committed; failing the caller now would invite a duplicate retry.
            logger.warning("WAL position unavailable after commit; pinning caller to primary")
            lsn = consistency.UNKNOWN_POSITION
        await self.positions.record(key, lsn)
