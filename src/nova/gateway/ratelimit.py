"""Per-user and per-IP rate limits: GCRA in one Lua script, so each check is one round trip.

GCRA (the generic cell rate algorithm) keeps one number per key, the *theoretical arrival
time*; a request is allowed when it would not push that time more than the burst tolerance
into the future. It is exact, needs no background refill and expires keys by itself. Redis's
own clock (``TIME``) is used, so gateways with skewed clocks agree.

When Redis fails, reads fail open (logged) and writes fail closed: a Redis outage must not take
the read path down, but unlimited writes are how an outage becomes a spam incident.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from nova.platform import errors
from nova.platform.cache import REDIS_ERRORS

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["RateLimit", "RateLimiter"]

logger = logging.getLogger(__name__)

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then return {0, allow_at - now} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
return {1, 0}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimit:
    """A sustained rate with a burst allowance.

    Attributes:
        per_minute: Requests per minute sustained.
        burst: Requests that may arrive at once on top of the sustained rate.
    """

    per_minute: int
    burst: int

    @property
    def interval_ms(self) -> float:
        """Milliseconds between two requests at the sustained rate."""
        return 60_000 / self.per_minute


class RateLimiter:
    """Checks request rates in Redis.

    Args:
        redis: A fail-fast client, or None to disable limiting.
        prefix: Key prefix of this deployment.
    """

    def __init__(self, redis: aioredis.Redis | None, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_GCRA) if redis is not None else None

    async def check(self, key: str, limit: RateLimit, *, cost: int = 1, write: bool) -> None:
        """Count ``cost`` requests against ``key``.

        Raises:
            errors.RateLimitedError: over the limit; ``retry_after`` says when to retry.
            errors.UnavailableError: Redis failed and the request writes (reads fail open).
        """
        if self._script is None:
            return
        try:
            allowed, wait_ms = await self._script(
                keys=[f"{self._prefix}rl:{key}"],
                args=[limit.interval_ms, limit.interval_ms * limit.burst, cost],
            )
        except REDIS_ERRORS as exc:
            if write:
                raise errors.UnavailableError(
                    "Rate limiting is unavailable; retry shortly.", dependency="redis"
                ) from exc
            logger.warning(
                "rate limiter unavailable, allowing a read",
                extra={"error.type": type(exc).__name__},
            )
            return
        if not allowed:
            raise errors.RateLimitedError(
                "Too many requests; slow down and retry later.",
                retry_after=max(float(wait_ms) / 1000, 0.001),
            )
