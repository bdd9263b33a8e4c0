"""A Redis client behind a circuit breaker and a per-request Redis budget.

Every command and pipeline of :class:`GuardedRedis` goes through a
:class:`~nova.platform.resilience.CircuitBreaker`: when Redis keeps failing or timing out the
breaker opens and calls fail at once with :class:`RedisUnavailableError` — a
``redis.ConnectionError``, so every ``except REDIS_ERRORS`` fallback (cache miss through to
PostgreSQL, feed from the database) handles it unchanged.

A request may also bound the *total* time it spends waiting on Redis with
:func:`redis_budget`: each call is cut to what is left, and once it is spent further calls fail
fast. A frozen Redis then delays a request by at most the budget, however many Redis calls
the request makes before the breaker opens.

Example:
    >>> with redis_budget(0.25):                       # doctest: +SKIP
    ...     page = await feed.home_feed(actor)          # Redis waits sum to <= 0.25 s
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.client import Pipeline
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from nova.platform.resilience import CircuitBreaker

__all__ = ["GuardedRedis", "RedisUnavailableError", "redis_budget"]

#: Failures that say Redis itself is unhealthy (a script or type error does not).
_DEPENDENCY_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TimeoutError,
    OSError,
)


class RedisUnavailableError(redis.exceptions.ConnectionError):
    """Not attempted: the Redis breaker is open or this request's Redis budget is spent."""


class _Budget:
    __slots__ = ("left",)

    def __init__(self, seconds: float) -> None:
        self.left = seconds


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "nova_redis_budget", default=None
)


@contextlib.contextmanager
def redis_budget(seconds: float) -> Iterator[None]:
    """Let the block (and tasks it creates) wait on Redis for ``seconds`` in total."""
    token = _budget.set(_Budget(seconds))
    try:
        yield
    finally:
        _budget.reset(token)


async def _guarded(breaker: CircuitBreaker, call: Callable[[], Awaitable[Any]]) -> Any:
    budget = _budget.get()
    if budget is not None and budget.left <= 0:
        raise RedisUnavailableError("This request's Redis time budget is spent.")
    if not breaker.allow():
        raise RedisUnavailableError("Redis is unavailable (circuit open).")
    started = time.monotonic()
    try:
        if budget is None:
            result = await call()
        else:
            # Cancelling mid-command is safe: redis-py disconnects that connection.
            async with asyncio.timeout(budget.left):
                result = await call()
    except _DEPENDENCY_ERRORS:
        breaker.record_failure()
        raise
    except Exception:
        breaker.record_success(time.monotonic() - started)
        raise
    except BaseException:
        breaker.abandon()
        raise
    finally:
        if budget is not None:
            budget.left -= time.monotonic() - started
    breaker.record_success(time.monotonic() - started)
    return result


# redis-py leaves execute_command unannotated; this is its real shape.
_execute = cast("Callable[..., Awaitable[Any]]", aioredis.Redis.execute_command)


class GuardedRedis(aioredis.Redis):
    """``redis.asyncio.Redis`` whose commands and pipelines pass through ``breaker``.

    Build it with :func:`nova.platform.cache.connect`.
    """

    breaker: CircuitBreaker

    @override
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return await _guarded(self.breaker, lambda: _execute(self, *args, **options))

    @override
    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = GuardedPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.breaker = self.breaker
        return pipe


class GuardedPipeline(Pipeline):
    """A pipeline whose ``execute`` passes through the client's breaker."""

    breaker: CircuitBreaker

    @override
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        result: list[Any] = await _guarded(
            self.breaker, lambda: Pipeline.execute(self, raise_on_error)
        )
        return result
