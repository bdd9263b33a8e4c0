"""A read-through cache whose fills can never resurrect a value older than an invalidation.

The classic race: a reader loads version 1 from PostgreSQL, a writer commits version 2 and
deletes the cache key, then the slow reader stores version 1 — and every later read sees the
old block list. Here every entry carries the version it was read at (read in the same
statement as the value), invalidation writes a *fence* ``(version, no value)`` instead of
deleting, and a Lua script accepts a fill only if its version is at least the fence's. Writers
fence *before* commit with the version their transaction is about to commit, so there is no
window between commit and invalidation either; a rolled-back write only leaves a fence that
costs misses until its TTL.

When Redis is slow or down, reads load from the source and writes skip the cache: correctness
never depends on Redis.

Example:
    >>> blocked = await cache.get_or_load("blocks:" + uid, load_blocks)   # doctest: +SKIP
    >>> await cache.fence("blocks:" + uid, new_version)                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Generic, TypeVar

import orjson

from nova.platform.cache.client import REDIS_ERRORS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

__all__ = ["Versioned", "VersionedCache"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Entry layout: "<version>|<json>" for a value, "<version>|" for a fence (JSON is never empty).
_FILL = """
local cur = redis.call('GET', KEYS[1])
local v = tonumber(ARGV[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local cv = tonumber(string.sub(cur, 1, sep - 1))
  local is_fence = sep == #cur
  if cv > v or (cv == v and not is_fence) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""

_FENCE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if tonumber(string.sub(cur, 1, sep - 1)) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|', 'EX', ARGV[2])
return 1
"""


class Versioned(Generic[T]):
    """A value with the version it was read at."""

    __slots__ = ("value", "version")

    def __init__(self, version: int, value: T) -> None:
        self.version = version
        self.value = value


class VersionedCache:
    """Version-fenced read-through cache over Redis.

    Args:
        redis: A fail-fast client (:func:`nova.platform.cache.connect`), or None to disable.
        prefix: Prepended to every key.
        ttl: Seconds an entry or fence lives.
    """

    def __init__(self, redis: aioredis.Redis | None, *, prefix: str, ttl: int = 600) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl
        self._fill = redis.register_script(_FILL) if redis is not None else None
        self._fence = redis.register_script(_FENCE) if redis is not None else None
        self.hits = 0
        self.misses = 0
        self.errors = 0

    async def get_or_load(
        self,
        key: str,
        load: Callable[[], Awaitable[Versioned[T]]],
        *,
        decode: Callable[[object], T],
        encode: Callable[[T], object],
    ) -> T:
        """Return the cached value for ``key`` or load it, filling the cache unless fenced."""
        full = self._prefix + key
        if self._redis is not None:
            try:
                raw = await self._redis.get(full)
            except REDIS_ERRORS as exc:
                self.errors += 1
                logger.warning(
                    "cache read failed, loading from source",
                    extra={"error.type": type(exc).__name__},
                )
                return (await load()).value
            if raw is not None:
                _, _, body = raw.partition(b"|") if isinstance(raw, bytes) else (b"", b"", b"")
                if body:
                    self.hits += 1
                    return decode(orjson.loads(body))
        self.misses += 1
        loaded = await load()
        if self._fill is not None:
            try:
                await self._fill(
                    keys=[full],
                    args=[loaded.version, orjson.dumps(encode(loaded.value)), self._ttl],
                )
            except REDIS_ERRORS as exc:
                self.errors += 1
                logger.warning("cache fill failed", extra={"error.type": type(exc).__name__})
        return loaded.value

    async def fence(self, key: str, version: int) -> None:
        """Make every fill older than ``version`` fail and drop the cached value.

        Call it with the version the writer's transaction commits, before and after commit.
        Redis errors are swallowed after logging: entries expire within the TTL.
        """
        if self._fence is None:
            return
        try:
            await self._fence(keys=[self._prefix + key], args=[version, self._ttl])
        except REDIS_ERRORS as exc:
            self.errors += 1
            logger.warning(
                "cache fence failed; entry expires within its TTL",
                extra={"error.type": type(exc).__name__},
            )
