"""The audit event store: an append-only, hash-chained copy of security-relevant events.

Each row's ``hash`` is ``SHA-256(prev_hash || canonical(row))`` where ``canonical`` is the
sorted-key JSON of the row's facts, and ``prev_hash`` is the previous row's hash (32 zero bytes
for the first). Editing, deleting or reordering any row breaks every later link, and
:func:`verify` names the first broken one. UPDATE, DELETE and TRUNCATE raise in a trigger (which
binds a superuser too); the application role has no such privilege either.

The store is fed by the ``audit`` consumer from the event log, so it is at least once in
delivery and exactly once in effect (``event_id`` is unique; the append runs in the consumer's
transaction). Appends are serialized by a transaction-level advisory lock: a chain has one head.

Example:
    >>> result = await audit.verify(conn)                                # doctest: +SKIP
    >>> result.ok, result.checked
    (True, 1234)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from nova.platform.events.consumer import Applying, Consumer

if TYPE_CHECKING:
    import uuid

    import asyncpg

    from nova.platform.events.envelope import StoredEvent

__all__ = ["AUDITED", "Verification", "append", "consumer", "verify"]

#: Event types kept in the audit store (registration, credentials, tokens, safety, roles).
AUDITED = frozenset(
    {
        "UserRegistered",
        "PasswordChanged",
        "EmailChanged",
        "RefreshTokenRevoked",
        "SessionsRevoked",
        "Blocked",
        "Unblocked",
        "RoleGranted",
        "RoleRevoked",
        "PermissionChanged",
    }
)

_GENESIS = bytes(32)
_CHAIN_LOCK = 0x61756469  # "audi"


def _canonical(
    *,
    event_id: uuid.UUID,
    tenant_id: str,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    aggregate_version: int,
    payload: dict[str, Any],
    occurred_at: dt.datetime,
) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(event_id),
            "tenant_id": tenant_id,
            "event_type": event_type,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "aggregate_version": aggregate_version,
            "payload": payload,
            "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(),
        },
        option=orjson.OPT_SORT_KEYS,
    )


def _link(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical).digest()


async def append(conn: asyncpg.Connection, event: StoredEvent) -> bool:
    """Append ``event`` to the chain in ``conn``'s transaction; False if already there."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _CHAIN_LOCK)
    if await conn.fetchval("SELECT true FROM event_store WHERE event_id = $1", event.event_id):
        return False
    prev = await conn.fetchval("SELECT hash FROM event_store ORDER BY seq DESC LIMIT 1")
    prev_hash = bytes(prev) if prev is not None else _GENESIS
    # Hash the payload as it will read back (jsonb normalizes it), so verify recomputes it.
    payload = orjson.loads(orjson.dumps(event.payload))
    digest = _link(
        prev_hash,
        _canonical(
            event_id=event.event_id,
            tenant_id=event.tenant_id,
            event_type=event.event_type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            aggregate_version=event.aggregate_version,
            payload=payload,
            occurred_at=event.occurred_at,
        ),
    )
    await conn.execute(
        """
        INSERT INTO event_store (event_id, tenant_id, event_type, aggregate_type, aggregate_id,
                                 aggregate_version, payload, occurred_at, prev_hash, hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)
        """,
        event.event_id,
        event.tenant_id,
        event.event_type,
        event.aggregate_type,
        event.aggregate_id,
        event.aggregate_version,
        orjson.dumps(payload).decode(),
        event.occurred_at,
        prev_hash,
        digest,
    )
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of :func:`verify`.

    Attributes:
        checked: Rows whose link was checked.
        broken_seq: ``seq`` of the first row whose link does not hold (``None``: intact).
        reason: Why that link is broken.
    """

    checked: int
    broken_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when every link holds."""
        return self.broken_seq is None


async def verify(conn: asyncpg.Connection, *, page: int = 1_000) -> Verification:
    """Walk the chain in ``seq`` order and report the first broken link."""
    expected_prev, after, checked = _GENESIS, 0, 0
    while True:
        rows = await conn.fetch(
            """
            SELECT seq, event_id, tenant_id, event_type, aggregate_type, aggregate_id,
                   aggregate_version, payload::text AS payload, occurred_at, prev_hash, hash
            FROM event_store WHERE seq > $1 ORDER BY seq LIMIT $2
            """,
            after,
            page,
        )
        for row in rows:
            if bytes(row["prev_hash"]) != expected_prev:
                return Verification(checked, row["seq"], "prev_hash does not match the row before")
            canonical = _canonical(
                event_id=row["event_id"],
                tenant_id=row["tenant_id"],
                event_type=row["event_type"],
                aggregate_type=row["aggregate_type"],
                aggregate_id=row["aggregate_id"],
                aggregate_version=row["aggregate_version"],
                payload=orjson.loads(row["payload"]),
                occurred_at=row["occurred_at"],
            )
            if _link(expected_prev, canonical) != bytes(row["hash"]):
                return Verification(checked, row["seq"], "contents do not match the stored hash")
            expected_prev, after = bytes(row["hash"]), row["seq"]
            checked += 1
        if len(rows) < page:
            return Verification(checked)


async def _record(event: StoredEvent, applying: Applying) -> None:
    await append(applying.conn, event)


def consumer(name: str = "audit") -> Consumer:
    """The consumer that fills the audit store from the event log.

    Batched: appends are quick PostgreSQL writes with no other effect, so a fetched batch
    commits once (the chain lock is held per batch instead of per event).
    """
    return Consumer(name=name, handlers={t: [_record] for t in AUDITED}, batched=True)
