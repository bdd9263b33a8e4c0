"""Automatic persisted queries (the Apollo protocol).

A client first sends only ``extensions.persistedQuery.sha256Hash``; on
``PERSISTED_QUERY_NOT_FOUND`` it resends with the query text, which is stored under its hash.
Later requests, including ``GET`` ones that CDNs can cache, carry just the hash.

Queries live in Redis (shared by every gateway) behind a small in-process LRU. If Redis
fails, lookups miss and the client falls back to sending the text: degraded, never broken.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from nova.platform import errors
from nova.platform.cache import REDIS_ERRORS

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["PersistedQueries", "PersistedQueryNotFoundError"]

logger = logging.getLogger(__name__)

#: Longest query text stored under a hash (anything longer is refused by the body cap anyway).
_MAX_STORED = 64 * 1024


class PersistedQueryNotFoundError(errors.NotFoundError):
    """The hash is unknown here: resend the request with the query text."""


class PersistedQueries:
    """Stores query texts by SHA-256.

    Args:
        redis: A fail-fast client, or None to keep queries in process only.
        prefix: Key prefix of this deployment.
        ttl: Seconds a stored query lives in Redis.
        local_size: Entries of the in-process LRU.
    """

    def __init__(
        self, redis: aioredis.Redis | None, *, prefix: str, ttl: int = 86_400, local_size: int = 512
    ) -> None:
        self._redis = redis
        self._prefix = prefix + "apq:"
        self._ttl = ttl
        self._local: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._local_size = local_size

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query text to run, storing or looking it up when the request uses APQ.

        Raises:
            errors.InvalidInputError: bad ``persistedQuery`` extension or a hash mismatch.
            PersistedQueryNotFoundError: only a hash was sent and it is unknown.
        """
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise errors.InvalidInputError(
                "Unsupported persistedQuery extension; send version 1.", field="extensions"
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            raise errors.InvalidInputError(
                "persistedQuery.sha256Hash must be a hex SHA-256.", field="extensions"
            )
        digest = digest.lower()
        if query is not None:
            if hashlib.sha256(query.encode()).hexdigest() != digest:
                raise errors.InvalidInputError(
                    "provided sha does not match query", field="extensions"
                )
            await self._store(digest, query)
            return query
        found = await self._load(digest)
        if found is None:
            raise PersistedQueryNotFoundError(
                "PersistedQueryNotFound", code=errors.ErrorCode.NOT_FOUND
            )
        return found

    def _remember(self, digest: str, query: str) -> None:
        self._local[digest] = query
        self._local.move_to_end(digest)
        while len(self._local) > self._local_size:
            self._local.popitem(last=False)

    async def _store(self, digest: str, query: str) -> None:
        if len(query) > _MAX_STORED:
            return
        self._remember(digest, query)
        if self._redis is None:
            return
        try:
            await self._redis.set(self._prefix + digest, query.encode(), ex=self._ttl)
        except REDIS_ERRORS as exc:
            logger.warning(
                "persisted query not stored in Redis", extra={"error.type": type(exc).__name__}
            )

    async def _load(self, digest: str) -> str | None:
        if digest in self._local:
            self._local.move_to_end(digest)
            return self._local[digest]
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._prefix + digest)
        except REDIS_ERRORS as exc:
            logger.warning(
                "persisted query lookup failed; client will resend",
                extra={"error.type": type(exc).__name__},
            )
            return None
        if raw is None:
            return None
        query = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._remember(digest, query)
        return query
