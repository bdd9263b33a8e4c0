"""The event envelope: what every event carries, whatever its type.

Events are named in the past tense (``PostPublished``). :class:`Event` is what a use case
appends to the outbox; :class:`StoredEvent` is the same envelope after the outbox has given it
a ``seq`` and an aggregate version, as the relay publishes it and consumers receive it.
Consumers deduplicate by ``event_id`` and order each aggregate's events by
``aggregate_version``.

Example:
    >>> e = Event("PostPublished", "post", "p1", "default", {"post_id": "p1"})
    >>> e.schema_version
    1
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import orjson

from nova.platform.ids import new_id

__all__ = ["Event", "StoredEvent", "decode", "encode"]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One domain event, as a use case writes it.

    Attributes:
        event_type: Past-tense name, e.g. ``PostPublished``.
        aggregate_type: The kind of entity it is about, e.g. ``post``.
        aggregate_id: That entity's id.
        tenant_id: Owning tenant.
        payload: JSON-serializable facts of the event.
        correlation_id: Id of the request that caused it.
        event_id: Time-ordered unique id (UUIDv7; the deduplication key).
        occurred_at: When the change happened.
        trace_id: Trace of the request, so consumers' spans join it.
        schema_version: Version of this event type's payload schema.
        aggregate_version: Explicit version; ``None`` lets the outbox number it (usual).
    """

    event_type: str
    aggregate_type: str
    aggregate_id: str
    tenant_id: str
    payload: dict[str, Any]
    correlation_id: str | None = None
    event_id: uuid.UUID = dataclasses.field(default_factory=new_id)
    occurred_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    trace_id: str | None = None
    schema_version: int = 1
    aggregate_version: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as committed in the outbox and carried by the event log.

    ``aggregate_version`` counts the aggregate's events from 1 in commit order; 0 means the row
    predates versioning.
    """

    seq: int
    event_id: uuid.UUID
    tenant_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    correlation_id: str | None
    occurred_at: dt.datetime
    aggregate_version: int = 0
    trace_id: str | None = None
    schema_version: int = 1


def encode(event: StoredEvent) -> bytes:
    """The wire form of ``event`` (JSON) for an event log."""
    raw = dataclasses.asdict(event)
    # asyncpg returns its own UUID subclass, which orjson does not serialize natively.
    raw["event_id"] = str(event.event_id)
    return orjson.dumps(raw)


def decode(data: bytes | str) -> StoredEvent:
    """Inverse of :func:`encode`.

    Raises:
        ValueError: ``data`` is not an encoded envelope.
    """
    try:
        raw = orjson.loads(data)
        raw["event_id"] = uuid.UUID(raw["event_id"])
        raw["occurred_at"] = dt.datetime.fromisoformat(raw["occurred_at"])
        return StoredEvent(**raw)
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not an event envelope: {exc}") from exc
