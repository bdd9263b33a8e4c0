"""Events the users service consumes from other services (profile post counters).

Run from the event log by :func:`consumer`; :func:`handlers` is the same for the direct
in-process :class:`~nova.platform.events.OutboxWorker`.

The counter is fenced on the post's aggregate version: a ``PostPublished`` arriving after its
``PostDeleted`` is stale and ignored, and a ``PostDeleted`` whose publish was never counted
(``previous_version is None``) has nothing to undo. Either order ends at the same count.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from nova.platform.events import Consumer

if TYPE_CHECKING:
    from nova.platform.events import Applying, Handler, StoredEvent
    from nova.users.service import UsersService

__all__ = ["consumer", "handlers"]


def handlers(service: UsersService) -> dict[str, list[Handler]]:
    """Outbox handlers of the users service, by event type (profile post counters)."""

    async def published(event: StoredEvent) -> None:
        await service.count_post_event(
            event_id=event.event_id, author_id=uuid.UUID(event.payload["author_id"]), delta=1
        )

    async def deleted(event: StoredEvent) -> None:
        await service.count_post_event(
            event_id=event.event_id, author_id=uuid.UUID(event.payload["author_id"]), delta=-1
        )

    return {"PostPublished": [published], "PostDeleted": [deleted]}


def consumer(service: UsersService, *, name: str = "users.counters") -> Consumer:
    """The users service's event-log consumer.

    Its name differs from the ``users.post_count`` inbox key that ``count_post_event`` claims
    in its own transaction: sharing it would make that claim wait on the runner's.
    """
    table = handlers(service)

    async def published(event: StoredEvent, _applying: Applying) -> None:
        for handler in table["PostPublished"]:
            await handler(event)

    async def deleted(event: StoredEvent, applying: Applying) -> None:
        if applying.previous_version is None:
            return  # the publish was never counted here: nothing to undo
        for handler in table["PostDeleted"]:
            await handler(event)

    return Consumer(
        name=name,
        handlers={"PostPublished": [published], "PostDeleted": [deleted]},
        fenced=frozenset({"post"}),
    )
