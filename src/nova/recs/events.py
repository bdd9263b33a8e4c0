"""The events recommendations emit: what was shown, and what was opened (for evaluation).

Both are about the ``recommendation_feed`` aggregate of the viewer (its id is the viewer's), so
a viewer's impressions and clicks are ordered per viewer in the event log. The analytics sink
writes them to ClickHouse ``recommendation_events`` (one row per shown item, one per click).

==========================  ===========================================================
event                       emitted when
==========================  ===========================================================
RecommendationsServed       a recommended-feed page is served (either source); one event
                            per page, its items in the payload
RecommendationClicked       ``recordRecommendationClick`` succeeds
==========================  ===========================================================

Payload of ``RecommendationsServed``::

    {"user_id": "...", "source": "RECOMMENDED" | "CHRONOLOGICAL_FALLBACK",
     "items": [{"post_id": "...", "author_id": "...", "position": 0,
                "sources": ["followed", ...], "score": 4.07}, ...]}

``position`` is the item's index in the viewer's ranked list (``RECOMMENDED``; stable across
pages) or on the page (fallback); ``sources`` and ``score`` are empty / 0 on the fallback.
The request's correlation id travels in the envelope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.platform.events import Event

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from nova.content.client import Post
    from nova.platform.context import Actor
    from nova.recs.domain import RecsPage

__all__ = ["AGGREGATE", "CLICKED", "SERVED", "clicked", "served"]

#: Aggregate type of both events (id: the viewer).
AGGREGATE = "recommendation_feed"
SERVED = "RecommendationsServed"
CLICKED = "RecommendationClicked"


def served(
    actor: Actor, viewer: uuid.UUID, page: RecsPage[Post], *, positions: Sequence[int]
) -> Event:
    """One ``RecommendationsServed`` event for ``page`` (``positions`` align with its items)."""
    items = [
        {
            "post_id": str(item.post.id),
            "author_id": str(item.post.author_id),
            "position": position,
            "sources": [] if item.reason is None else list(item.reason.sources),
            "score": 0.0 if item.reason is None else item.reason.score,
        }
        for item, position in zip(page.items, positions, strict=True)
    ]
    return Event(
        event_type=SERVED,
        aggregate_type=AGGREGATE,
        aggregate_id=str(viewer),
        tenant_id=actor.tenant_id,
        payload={"user_id": str(viewer), "source": page.source.value, "items": items},
        correlation_id=actor.correlation_id,
    )


def clicked(actor: Actor, viewer: uuid.UUID, post: Post) -> Event:
    """One ``RecommendationClicked`` event: ``viewer`` opened ``post`` from the feed."""
    return Event(
        event_type=CLICKED,
        aggregate_type=AGGREGATE,
        aggregate_id=str(viewer),
        tenant_id=actor.tenant_id,
        payload={
            "user_id": str(viewer),
            "post_id": str(post.id),
            "author_id": str(post.author_id),
        },
        correlation_id=actor.correlation_id,
    )
