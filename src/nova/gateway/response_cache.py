"""Whole-response cache in Redis for public query results.

Keyed by ``(document hash, operation name, variables, auth scope)``; stored only for queries
whose policy is ``PUBLIC`` with ``maxAge > 0`` and that produced no error (DESIGN invariant 9).
A hit is served with the entry's *remaining* TTL as ``max-age``, so downstream caches never hold
a response longer than the hints allow. Redis failures are logged and turn into misses.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from nova.platform.cache import REDIS_ERRORS

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["ResponseCache", "cache_key"]

logger = logging.getLogger(__name__)


def cache_key(
    *, query: str, operation_name: str | None, variables: dict[str, Any] | None, scope: str
) -> str:
    """The cache key of one operation; ``scope`` is ``anon`` or the viewer's id."""
    doc = hashlib.sha256(query.encode()).hexdigest()
    var = hashlib.sha256(orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{doc}:{operation_name or ''}:{var[:32]}:{scope}"


class ResponseCache:
    """Serialized responses in Redis.

    Args:
        redis: A fail-fast client, or None to disable the cache.
        prefix: Key prefix of this deployment.
    """

    def __init__(self, redis: aioredis.Redis | None, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "gql:r:"
        self.hits = 0
        self.misses = 0

    async def get(self, key: str) -> tuple[bytes, int] | None:
        """The cached body and its remaining seconds, or None."""
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._prefix + key)
        except REDIS_ERRORS as exc:
            logger.warning("response cache read failed", extra={"error.type": type(exc).__name__})
            return None
        if not isinstance(raw, bytes):
            self.misses += 1
            return None
        expires, _, body = raw.partition(b"|")
        remaining = int(expires) - int(time.time())
        if remaining <= 0:
            self.misses += 1
            return None
        self.hits += 1
        return body, remaining

    async def put(self, key: str, body: bytes, *, ttl: int) -> None:
        """Store ``body`` for ``ttl`` seconds (errors are logged, never raised)."""
        if self._redis is None or ttl <= 0:
            return
        # The expiry travels with the body, so a hit knows its remaining age in one GET.
        expires = str(int(time.time()) + ttl).encode()
        try:
            await self._redis.set(self._prefix + key, expires + b"|" + body, ex=ttl)
        except REDIS_ERRORS as exc:
            logger.warning("response cache write failed", extra={"error.type": type(exc).__name__})
