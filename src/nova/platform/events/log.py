"""The event log port: an ordered, durable, consumer-group log of envelopes.

The outbox relay publishes to it and consumer runners read from it. Positions are opaque
strings and groups are names, so a Kafka backend (partition key = aggregate id) implements the
same port; :mod:`nova.platform.events.redis_log` is the Redis Streams backend.

===================  =========================================================================
operation            contract
===================  =========================================================================
publish              append in the given order; at-least-once (a retry may duplicate)
fetch                stalled deliveries of crashed or failing members first, then new events;
                     each delivery carries its attempt count and the last recorded error
ack                  the group is done with these positions
record_failure       keep the error for the next attempt (it travels to the dead letter)
defer                hand deliveries back uncounted, due at once (a dependency is down)
dead_letter          move one delivery to the dead-letter log and ack it, atomically
pending / lag        per group: delivered but unacknowledged / not yet delivered (metrics)
compact              drop entries every group has acknowledged, never an unacknowledged one
===================  =========================================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Protocol

from nova.platform.events.envelope import StoredEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DeadLetter", "Delivery", "EventLog"]


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One event handed to one member of a consumer group.

    Attributes:
        event: The envelope.
        position: Where it sits in the log (opaque; pass it back to ``ack``).
        attempts: Deliveries to this group so far, this one included.
        last_error: The error recorded by the previous attempt, if any.
    """

    event: StoredEvent
    position: str
    attempts: int = 1
    last_error: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a group gave up on, with why."""

    position: str
    group: str
    event: StoredEvent
    error: str
    attempts: int
    failed_at: dt.datetime


class EventLog(Protocol):
    """What the relay and the consumer runners need from a broker."""

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Append ``events`` in order."""
        ...

    async def ensure_group(self, group: str) -> None:
        """Create ``group`` reading from the start of the log, if it does not exist."""
        ...

    async def fetch(
        self, group: str, member: str, *, limit: int, wait: float, redeliver_after: float
    ) -> list[Delivery]:
        """Up to ``limit`` deliveries, waiting up to ``wait`` seconds for new ones.

        Deliveries unacknowledged for ``redeliver_after`` seconds are taken over first.
        """
        ...

    async def ack(self, group: str, positions: Sequence[str]) -> None:
        """Mark ``positions`` done for ``group``."""
        ...

    async def record_failure(self, group: str, position: str, error: str) -> None:
        """Remember why the attempt at ``position`` failed."""
        ...

    async def defer(self, group: str, member: str, deliveries: Sequence[Delivery]) -> None:
        """Hand ``deliveries`` back without counting these attempts; the next fetch retries them.

        For failures of a dependency rather than of the event: they must not use up the
        attempts that send a poison event to the dead-letter log.
        """
        ...

    async def dead_letter(self, group: str, delivery: Delivery, error: str) -> None:
        """Move ``delivery`` to the dead-letter log and acknowledge it."""
        ...

    async def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters."""
        ...

    async def dead_letter_count(self) -> int:
        """Events in the dead-letter log."""
        ...

    async def replay_dead_letter(self, position: str) -> DeadLetter | None:
        """Publish a dead letter again and remove it; ``None`` if it does not exist."""
        ...

    async def pending(self, group: str) -> int:
        """Deliveries of ``group`` not yet acknowledged."""
        ...

    async def lag(self, group: str) -> int | None:
        """Entries not yet delivered to ``group`` (``None`` if the broker cannot tell)."""
        ...

    async def compact(self) -> int:
        """Drop entries acknowledged by every group; return how many were dropped."""
        ...
