"""Home feed: pages, where they came from, and how candidate ids merge. Stdlib only.

Example:
    >>> import uuid
    >>> a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    >>> merge_newest([c, a], [b, a], limit=2) == [c, b]
    True
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable

__all__ = ["MAX_FEED_PAGE", "FeedPage", "FeedSource", "merge_newest"]

#: Largest home-feed page.
MAX_FEED_PAGE = 50

P = TypeVar("P")


class FeedSource(enum.StrEnum):
    """Where a home-feed page came from."""

    #: The Redis timeline, merged with posts pulled from high-follower followees.
    TIMELINE = "timeline"
    #: The timeline was missing or cold and was just rebuilt from PostgreSQL.
    REBUILT = "rebuilt"
    #: Redis was unavailable; the page was read from PostgreSQL alone.
    DATABASE = "database"


@dataclasses.dataclass(frozen=True, slots=True)
class FeedPage(Generic[P]):
    """One page of a home feed, newest first.

    Attributes:
        items: The posts, hydrated and filtered for the viewer.
        next_cursor: Pass back as ``after`` for older posts; None at the end.
        partial: The feed may be missing posts (rebuilt or served without Redis); a client
            may say so or refresh shortly.
        source: Which path served the page.
    """

    items: list[P]
    next_cursor: str | None
    partial: bool
    source: FeedSource


def merge_newest(*sources: Iterable[uuid.UUID], limit: int) -> list[uuid.UUID]:
    """The ``limit`` newest distinct ids of all ``sources`` (UUIDv7: larger is newer)."""
    merged: set[uuid.UUID] = set()
    for source in sources:
        merged.update(source)
    return sorted(merged, reverse=True)[:limit]
