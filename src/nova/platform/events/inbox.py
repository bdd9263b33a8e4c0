"""The inbox: exactly-once effects for at-least-once delivery, keyed by ``event_id``.

A consumer whose effect is a PostgreSQL write claims the event in the same transaction:
``claim`` inserts ``(consumer, event_id)`` and says whether this is the first delivery. A
redelivered event finds its row and the effect is skipped; a rolled-back effect rolls the
claim back with it, so the retry applies it.

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

__all__ = ["claim", "seen"]


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
