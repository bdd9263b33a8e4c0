"""The event envelope: what every event carries, whatever its type.

Events are named in the past tense (``PostPublished``). The envelope is what the outbox stores
and what the event log carries; consumers deduplicate by ``event_id``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from nova.platform.ids import new_id

__all__ = ["Event"]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One domain event.

    Attributes:
        event_type: Past-tense name, e.g. ``PostPublished``.
        aggregate_type: The kind of entity it is about, e.g. ``post``.
        aggregate_id: That entity's id.
        tenant_id: Owning tenant.
        payload: JSON-serializable facts of the event.
        correlation_id: Id of the request that caused it.
        event_id: Time-ordered unique id (deduplication key).
        occurred_at: When the change happened.
    """

    event_type: str
    aggregate_type: str
    aggregate_id: str
    tenant_id: str
    payload: dict[str, Any]
    correlation_id: str | None = None
    event_id: uuid.UUID = dataclasses.field(default_factory=new_id)
    occurred_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
