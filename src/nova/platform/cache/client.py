"""Redis clients that fail fast.

redis-py's defaults retry with backoff and take about a minute to fail against a frozen server
(RELIABILITY.md). Request paths use :func:`connect` instead: short connect and read timeouts, no
library retries, no health-check pings; the caller decides what a failure means (a cache miss,
a fallback to PostgreSQL).
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from nova.platform.cache.guarded import GuardedRedis
from nova.platform.resilience import BreakerPolicy, CircuitBreaker

__all__ = ["REDIS_ERRORS", "connect", "redis_breaker"]

#: What a Redis call raises when the server is slow, down or refusing: callers degrade on these.
#: An open breaker or a spent budget raises ``RedisUnavailableError``, a ``RedisError``.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    aioredis.RedisError,
    TimeoutError,
    OSError,
)


def redis_breaker(name: str = "redis") -> CircuitBreaker:
    """The breaker :func:`connect` uses by default.

    It opens at 50 % failures of the last 20 calls (at least 5) and probes once after 2 s.
    """
    return CircuitBreaker(
        name,
        BreakerPolicy(window=20, minimum_calls=5, failure_rate=0.5, open_seconds=2.0),
    )


def connect(
    url: str,
    *,
    timeout: float,
    max_connections: int = 64,
    breaker: CircuitBreaker | None = None,
) -> GuardedRedis:
    """A client for ``url`` whose every command fails within ``timeout`` seconds.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL.
        timeout: Connect and per-command timeout in seconds.
        max_connections: Connection pool bound; excess callers fail rather than queue forever.
        breaker: The circuit breaker of this client (:func:`redis_breaker` when omitted).
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
    client = GuardedRedis(connection_pool=pool)
    # As Redis.from_pool does: the client owns the pool, so aclose() closes its sockets too.
    client.auto_close_connection_pool = True
    client.breaker = breaker or redis_breaker()
    return client
