"""A consumer declares each event type once: per-event handlers or its batch handler."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from nova.platform.events import Applying, BatchHandler, Consumer, StoredEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg


async def _one(event: StoredEvent, applying: Applying) -> None:
    del event, applying


async def _many(values: Sequence[str], conn: asyncpg.Connection) -> None:
    del values, conn


def _id(event: StoredEvent) -> str:
    return str(event.event_id)


BATCH = BatchHandler(frozenset({"Liked", "Unliked"}), _id, _many)


def test_a_consumer_handles_its_per_event_and_its_batch_types_only() -> None:
    consumer = Consumer("c", handlers={"Followed": [_one], "Muted": []}, batch=BATCH)

    assert [consumer.handles(t) for t in ("Followed", "Liked", "Unliked", "Muted", "Other")] == [
        True,
        True,
        True,
        False,  # no handler: acknowledged unseen, as before
        False,
    ]


def test_a_type_with_both_kinds_of_handler_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\['Liked'\] have per-event handlers and the batch"):
        Consumer("c", handlers={"Liked": [_one]}, batch=BATCH)
