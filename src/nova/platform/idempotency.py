"""Idempotency keys: a client retry of a mutation never duplicates its effect.

A mutation that accepts a key calls :func:`run_once` inside its own transaction. The key row is
claimed first with ``INSERT … ON CONFLICT DO NOTHING``: a concurrent request with the same key
blocks on that insert until the first commits (then replays its response) or rolls back (then
runs itself). The response is stored in the same transaction as the effect, so either both
exist or neither does; a failed attempt stores nothing and may be retried.

======================================  =============================================
request with key K                      outcome
======================================  =============================================
K unseen                                run, store ``(operation, hash, response)``
K seen, same operation and arguments    the stored response, nothing runs
K seen, anything else                   :class:`~nova.platform.errors.ConflictError`
======================================  =============================================

Example:
    >>> async with db.write() as conn:                                   # doctest: +SKIP
    ...     outcome = await idempotency.run_once(
    ...         conn, scope=scope, operation="users.follow",
    ...         request={"target": str(target)}, execute=lambda: do_follow(conn),
    ...     )
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from typing import TYPE_CHECKING, Any, Final

import orjson

from nova.platform import errors

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Awaitable, Callable, Mapping

    import asyncpg

__all__ = ["MAX_KEY_LENGTH", "Outcome", "Scope", "purge_expired", "request_hash", "run_once"]

#: Longest key accepted (the column's CHECK constraint).
MAX_KEY_LENGTH: Final = 200

_CLAIM = """
INSERT INTO idempotency_keys (tenant_id, user_id, key, operation, request_hash, response)
VALUES ($1, $2, $3, $4, $5, 'null'::jsonb)
ON CONFLICT (user_id, key) DO NOTHING
RETURNING 1
"""
_STORED = """
SELECT operation, request_hash, response::text
FROM idempotency_keys WHERE user_id = $1 AND key = $2
"""
_SAVE = "UPDATE idempotency_keys SET response = $3::jsonb WHERE user_id = $1 AND key = $2"


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """Whose key it is: keys are unique per user, never global.

    Attributes:
        tenant_id: Tenant of the user.
        user_id: The authenticated caller.
        key: The client's key (1-200 characters), or None when the client sent none.
    """

    tenant_id: str
    user_id: uuid.UUID
    key: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """The response of a keyed mutation and whether it was replayed from storage."""

    response: dict[str, Any]
    replayed: bool


def request_hash(operation: str, request: Mapping[str, Any]) -> str:
    """A stable digest of the operation and its arguments (key order does not matter)."""
    body = orjson.dumps({"op": operation, "req": request}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


async def run_once(
    conn: asyncpg.Connection,
    *,
    scope: Scope,
    operation: str,
    request: Mapping[str, Any],
    execute: Callable[[], Awaitable[dict[str, Any]]],
) -> Outcome:
    """Run ``execute`` at most once per ``scope.key``; replay its response on retries.

    Must be called on the connection of the use case's transaction, before the mutation.

    Args:
        conn: The use case's connection, inside its transaction.
        scope: The caller and key; with ``key=None`` this simply runs ``execute``.
        operation: Stable name of the mutation, e.g. ``users.follow``.
        request: The arguments that define the request (JSON-serializable).
        execute: Performs the mutation and returns its JSON-serializable response.

    Raises:
        errors.InvalidInputError: the key is empty or longer than 200 characters.
        errors.ConflictError: the key was used for a different operation or arguments.
    """
    if scope.key is None:
        return Outcome(response=await execute(), replayed=False)
    if not 1 <= len(scope.key) <= MAX_KEY_LENGTH:
        raise errors.InvalidInputError(
            f"An idempotency key has 1 to {MAX_KEY_LENGTH} characters.", field="idempotencyKey"
        )
    if not conn.is_in_transaction():
        raise RuntimeError("idempotency.run_once needs the use case's transaction")
    digest = request_hash(operation, request)
    claimed = await conn.fetchval(
        _CLAIM, scope.tenant_id, scope.user_id, scope.key, operation, digest
    )
    if claimed is None:
        row = await conn.fetchrow(_STORED, scope.user_id, scope.key)
        if row is None:  # pragma: no cover - the conflicting row cannot vanish (no deletes here)
            raise errors.ConflictError("The idempotency key is busy; retry.")
        if row["operation"] != operation or row["request_hash"] != digest:
            raise errors.ConflictError(
                "This idempotency key was already used for a different request; "
                "use a new key for a new request.",
                field="idempotencyKey",
            )
        stored = orjson.loads(row["response"])
        return Outcome(response=stored if isinstance(stored, dict) else {}, replayed=True)
    response = await execute()
    await conn.execute(_SAVE, scope.user_id, scope.key, orjson.dumps(response).decode())
    return Outcome(response=response, replayed=False)


async def purge_expired(
    conn: asyncpg.Connection, *, older_than: dt.timedelta, limit: int = 10_000
) -> int:
    """Delete up to ``limit`` keys created more than ``older_than`` ago; return how many.

    Run it periodically (a retry window of a day is typical). Bounded batches keep each delete
    short; the ``idempotency_keys_created`` index finds the oldest rows without a scan.
    """
    status = await conn.execute(
        """
        DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
          SELECT ctid FROM idempotency_keys
          WHERE created_at < now() - $1::interval
          ORDER BY created_at
          LIMIT $2
        ))
        """,
        older_than,
        limit,
    )
    return int(status.rsplit(" ", 1)[-1])
