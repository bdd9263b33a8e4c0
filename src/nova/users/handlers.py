"""Events the users service consumes from other services."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nova.platform.events import Handler, StoredEvent
    from nova.users.service import UsersService

__all__ = ["handlers"]


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
