"""What every users use case shares: dependencies, the caller check, cache keys, fencing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.platform import errors, idempotency
from nova.users.security import AccessTokens, Passwords

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable, Mapping
    from typing import Any

    import asyncpg

    from nova.platform.cache import VersionedCache
    from nova.platform.config import Settings
    from nova.platform.context import Actor
    from nova.platform.db import Database


class ServiceBase:
    """Dependencies of the users use cases.

    Args:
        db: PostgreSQL pools; every mutation is one ``db.write()`` transaction.
        settings: Token issuer, audience, lifetimes and secret.
        cache: Version-fenced cache for hidden sets and preferences.
        passwords: argon2id hasher (OWASP minimum parameters by default).
        on_hidden_loaded: Test seam, awaited after a hidden set is read from PostgreSQL and
            before it is offered to the cache; lets tests hold a slow fill open to force the
            fill/invalidate race.
    """

    def __init__(
        self,
        db: Database,
        *,
        settings: Settings,
        cache: VersionedCache,
        passwords: Passwords | None = None,
        on_hidden_loaded: Callable[[uuid.UUID], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._cache = cache
        self._passwords = passwords or Passwords()
        self._tokens = AccessTokens(
            secret=settings.secret_key.get_secret_value(),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            ttl=settings.access_token_ttl,
        )
        self._on_hidden_loaded = on_hidden_loaded
        self._last_touch: dict[uuid.UUID, float] = {}

    @staticmethod
    def _require_user(actor: Actor) -> uuid.UUID:
        if actor.user_id is None:
            raise errors.UnauthenticatedError("Sign in to do this.")
        return actor.user_id

    @staticmethod
    def _hidden_key(user_id: uuid.UUID) -> str:
        # Braces are a Redis Cluster hash tag: all of one user's keys live on one shard.
        return f"users:{{{user_id}}}:hidden"

    @staticmethod
    def _preferences_key(user_id: uuid.UUID) -> str:
        return f"users:{{{user_id}}}:prefs"

    async def _fence(self, fences: Mapping[str, int]) -> None:
        """Fence each cache key with the version its change commits (before and after commit)."""
        for key, version in fences.items():
            await self._cache.fence(key, version)

    @staticmethod
    async def _keyed(
        conn: asyncpg.Connection,
        actor: Actor,
        *,
        key: str | None,
        operation: str,
        request: Mapping[str, Any],
        execute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Run ``execute`` under the caller's idempotency key (if any); return the response."""
        if actor.user_id is None:  # pragma: no cover - callers check first
            raise errors.UnauthenticatedError("Sign in to do this.")
        outcome = await idempotency.run_once(
            conn,
            scope=idempotency.Scope(tenant_id=actor.tenant_id, user_id=actor.user_id, key=key),
            operation=operation,
            request=request,
            execute=execute,
        )
        return outcome.response
