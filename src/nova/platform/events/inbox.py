"""The inbox: exactly-once effects for at-least-once delivery, keyed by ``event_id``.

A consumer whose effect is a PostgreSQL write claims the event in the same transaction:
``claim`` inserts ``(consumer, event_id)`` and says whether this is the first delivery. A
redelivered event finds its row and the effect is skipped; a rolled-back effect rolls the
claim back with it, so the retry applies it.

Rows older than the dedup retention are deleted by :func:`prune` (the relay's pruning pass);
``docs/events.md`` argues why the retention outlasts every redelivery.

Example:
    >>> async with db.write() as conn:                                  # doctest: +SKIP
    ...     if await inbox.claim(conn, consumer="users.post_count", event_id=event.event_id):
    ...         await conn.execute("UPDATE users SET post_count = post_count + 1 ...")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uuid

    import asyncpg

__all__ = ["claim", "prune", "seen"]

_PRUNE = """
DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM processed_events
    WHERE processed_at < now() - make_interval(secs => $1)
    LIMIT $2))
"""


async def claim(conn: asyncpg.Connection, *, consumer: str, event_id: uuid.UUID) -> bool:
    """True when ``consumer`` sees ``event_id`` for the first time (inside its transaction)."""
    if not conn.is_in_transaction():
        raise RuntimeError("inbox.claim needs the transaction that applies the effect")
    inserted = await conn.fetchval(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING true",
        consumer,
        event_id,
    )
    return bool(inserted)


async def seen(conn: asyncpg.Connection, *, consumer: str, event_id: uuid.UUID) -> bool:
    """True when ``consumer`` has recorded ``event_id`` (the exact answer to a Bloom "maybe")."""
    found = await conn.fetchval(
        "SELECT true FROM processed_events WHERE consumer = $1 AND event_id = $2",
        consumer,
        event_id,
    )
    return bool(found)


async def prune(conn: asyncpg.Connection, *, retention: float, batch: int = 10_000) -> int:
    """Delete rows recorded more than ``retention`` seconds ago, ``batch`` rows per statement.

    Run it outside a transaction: each batch commits on its own, so no statement holds many
    row locks or a long snapshot. Returns how many rows were deleted.
    """
    total = 0
    while True:
        status = await conn.execute(_PRUNE, float(retention), batch)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch:
            return total
