"""Idempotency keys for mutations whose service has none of its own.

``createPost`` passes its key to the content service, which stores it with the post in one
transaction. Most other mutations are idempotent by nature (liking twice, following twice,
blocking twice change nothing the second time). The rest -- ``addComment`` -- are guarded here:
the first request with a key claims it in Redis (``SET NX``), runs, and stores its result; a
retry replays the result; a concurrent duplicate gets ``CONFLICT`` and retries later.

Without Redis a keyed mutation fails closed (``UNAVAILABLE``): running it unguarded could
duplicate its effect, which is exactly what the key promised would not happen.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from nova.platform import errors
from nova.platform.cache import REDIS_ERRORS

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

__all__ = ["IdempotencyGuard"]

T = TypeVar("T")

_PENDING = b"pending"


class IdempotencyGuard:
    """Runs a keyed mutation at most once per ``(user, key)``.

    Args:
        redis: A fail-fast client (None: keyed mutations fail closed).
        prefix: Key prefix of this deployment.
        ttl: Seconds a key and its result are remembered.
    """

    def __init__(self, redis: aioredis.Redis | None, *, prefix: str, ttl: int = 86_400) -> None:
        self._redis = redis
        self._prefix = prefix + "idem:"
        self._ttl = ttl

    async def run(
        self,
        *,
        user_id: uuid.UUID,
        key: str | None,
        operation: str,
        request: dict[str, Any],
        call: Callable[[], Awaitable[T]],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """Run ``call`` once for ``key``; replay its result for retries.

        Raises:
            errors.InvalidInputError: the key is empty or longer than 200 characters.
            errors.ConflictError: the key is in use by a running request or another operation.
            errors.UnavailableError: Redis is unreachable and a key was given.
        """
        if key is None:
            return await call()
        if not 1 <= len(key) <= 200:
            raise errors.InvalidInputError(
                "An idempotency key has 1 to 200 characters.", field="idempotencyKey"
            )
        if self._redis is None:
            raise errors.UnavailableError("Idempotency keys are unavailable.", dependency="redis")
        digest = hashlib.sha256(
            orjson.dumps({"op": operation, "req": request}, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        name = f"{self._prefix}{user_id}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
        try:
            claimed = await self._redis.set(name, _PENDING, nx=True, ex=60)
            stored = None if claimed else await self._redis.get(name)
        except REDIS_ERRORS as exc:
            raise errors.UnavailableError(
                "Idempotency keys are unavailable; retry shortly.", dependency="redis"
            ) from exc
        if not claimed:
            return self._replay(stored, digest=digest, decode=decode)
        try:
            result = await call()
        except BaseException:
            await self._release(name)
            raise
        record = orjson.dumps({"hash": digest, "result": encode(result)})
        # If storing fails the effect still happened; a retry within 60 s sees "pending" and
        # gets CONFLICT rather than a duplicate.
        with contextlib.suppress(*REDIS_ERRORS):
            await self._redis.set(name, record, ex=self._ttl)
        return result

    @staticmethod
    def _replay(stored: Any, *, digest: str, decode: Callable[[Any], T]) -> T:
        if stored is None or stored == _PENDING:
            raise errors.ConflictError(
                "A request with this idempotency key is still running; retry shortly.",
                field="idempotencyKey",
            )
        data = orjson.loads(stored)
        if data.get("hash") != digest:
            raise errors.ConflictError(
                "This idempotency key was used for a different request; use a new key.",
                field="idempotencyKey",
            )
        return decode(data["result"])

    async def _release(self, name: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.delete(name)
        except REDIS_ERRORS:
            return
