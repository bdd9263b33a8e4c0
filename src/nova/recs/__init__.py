"""Recommendations: a "For you" feed from ClickHouse candidates, precomputed in Redis.

See ``docs/recommendations.md`` for sources, scoring, fallback and settings.
"""

from nova.recs.client import LocalRecsClient, RecsClient
from nova.recs.domain import Reason, RecommendedItem, RecsPage, RecsSource
from nova.recs.service import RecsService

__all__ = [
    "LocalRecsClient",
    "Reason",
    "RecommendedItem",
    "RecsClient",
    "RecsPage",
    "RecsService",
    "RecsSource",
]
