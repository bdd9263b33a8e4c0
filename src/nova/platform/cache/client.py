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

__all__ = ["REDIS_ERRORS", "connect"]

#: What a Redis call raises when the server is slow, down or refusing: callers degrade on these.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    aioredis.RedisError,
    TimeoutError,
    OSError,
)


def connect(url: str, *, timeout: float, max_connections: int = 64) -> aioredis.Redis:
    """A client for ``url`` whose every command fails within ``timeout`` seconds.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL.
        timeout: Connect and per-command timeout in seconds.
        max_connections: Connection pool bound; excess callers fail rather than queue forever.
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
    # from_pool hands the pool to the client, so aclose() closes its sockets too.
    return aioredis.Redis.from_pool(pool)
