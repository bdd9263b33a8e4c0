"""Recommendations: transparent scoring, exclusions, per-author diversity. Stdlib only.

Score of a candidate post (every part is kept in its :class:`Reason`)::

    source   = sum of the weights of the sources that proposed it
    velocity = w_velocity * ln(1 + sum over its engagements of 0.5 ** (age / engagement_half_life))
    affinity = w_affinity * ln(1 + viewer's engagements with the author)
    recency  = w_recency  * 0.5 ** (post age / recency_half_life)
    score    = source + velocity + affinity + recency

Velocity and affinity are counts, so they are compressed with ``ln(1 + x)``: a post with 200
fresh likes must not outrank everything else by a factor of 200 while recency and the source
weights stay within [0, a few]. The defaults were tuned offline (``nova recs evaluate``,
docs/recommendations.md) on two seeds and checked on five others.

Ties break on the post id, larger (newer UUIDv7) first, so a ranking is deterministic.

Example:
    >>> decay(3600.0, half_life=3600.0)
    0.5
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import uuid
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "MAX_RECS_PAGE",
    "Candidate",
    "Exclusions",
    "Ranked",
    "Reason",
    "RecommendedItem",
    "RecsPage",
    "RecsSource",
    "Source",
    "Weights",
    "decay",
    "diversify",
    "merge",
    "rank",
    "score",
]

P = TypeVar("P")

#: Largest recommended-feed page.
MAX_RECS_PAGE = 50


class Source(enum.StrEnum):
    """Why a post became a candidate."""

    #: Liked or commented on by someone the viewer follows.
    FRIENDS_ENGAGED = "friends_engaged"
    #: Among the most engaged posts of the tenant over the trending window.
    TRENDING = "trending"
    #: A recent post of an author the viewer engages with most.
    AFFINITY = "affinity"
    #: A recent post of an account the viewer follows.
    FOLLOWED = "followed"


class RecsSource(enum.StrEnum):
    """Which path served a recommended-feed page."""

    RECOMMENDED = "RECOMMENDED"
    CHRONOLOGICAL_FALLBACK = "CHRONOLOGICAL_FALLBACK"


@dataclasses.dataclass(frozen=True, slots=True)
class Weights:
    """Scoring weights and half-lives (from settings)."""

    velocity: float = 0.25
    affinity: float = 1.0
    recency: float = 3.0
    engagement_half_life: float = 6 * 3600.0
    recency_half_life: float = 24 * 3600.0
    sources: tuple[tuple[Source, float], ...] = (
        (Source.FRIENDS_ENGAGED, 1.0),
        (Source.TRENDING, 0.5),
        (Source.AFFINITY, 0.5),
        (Source.FOLLOWED, 1.5),
    )

    def source_weight(self, source: Source) -> float:
        """The weight of ``source`` (0 when unset)."""
        return dict(self.sources).get(source, 0.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """A post proposed by one or more sources, with the facts the score needs.

    Attributes:
        post_id: The post.
        author_id: Its author.
        age: Seconds since it was published.
        sources: Who proposed it.
        engagement_ages: Seconds since each of its recent likes and comments.
        affinity: How many times the viewer engaged with the author recently.
    """

    post_id: uuid.UUID
    author_id: uuid.UUID
    age: float
    sources: frozenset[Source]
    engagement_ages: tuple[float, ...] = ()
    affinity: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Exclusions:
    """Posts and authors the viewer must not be recommended.

    Attributes:
        viewer_id: The viewer (their own posts are excluded).
        hidden_authors: Blocked either way, or muted.
        post_ids: Already liked, deleted, or not visible to the viewer. (Posts the viewer
            was already shown never get here: the candidate query leaves them out, before
            each source's cap, see ``nova.recs.store.CandidateQuery.seen_seconds``.)
    """

    viewer_id: uuid.UUID
    hidden_authors: frozenset[uuid.UUID] = frozenset()
    post_ids: frozenset[uuid.UUID] = frozenset()

    def allows(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` may be recommended."""
        return (
            candidate.author_id != self.viewer_id
            and candidate.author_id not in self.hidden_authors
            and candidate.post_id not in self.post_ids
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    """Why an item is recommended: its sources and the parts of its score."""

    sources: tuple[str, ...]
    score: float
    parts: tuple[tuple[str, float], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Ranked:
    """A ranked recommendation."""

    post_id: uuid.UUID
    author_id: uuid.UUID
    reason: Reason


def decay(age: float, *, half_life: float) -> float:
    """``0.5 ** (age / half_life)``; a future age counts as now."""
    return float(0.5 ** (max(age, 0.0) / half_life))


def score(candidate: Candidate, weights: Weights) -> Reason:
    """The score of ``candidate`` and its parts (see the module docstring)."""
    velocity = sum(
        decay(a, half_life=weights.engagement_half_life) for a in candidate.engagement_ages
    )
    parts = (
        ("source", sum(weights.source_weight(s) for s in candidate.sources)),
        ("velocity", weights.velocity * math.log1p(velocity)),
        ("affinity", weights.affinity * math.log1p(max(candidate.affinity, 0))),
        ("recency", weights.recency * decay(candidate.age, half_life=weights.recency_half_life)),
    )
    rounded = tuple((name, round(value, 6)) for name, value in parts)
    return Reason(
        sources=tuple(sorted(str(s) for s in candidate.sources)),
        score=round(sum(v for _, v in parts), 6),
        parts=rounded,
    )


def merge(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per post: sources united, the largest facts kept."""
    by_post: dict[uuid.UUID, Candidate] = {}
    for c in candidates:
        seen = by_post.get(c.post_id)
        if seen is None:
            by_post[c.post_id] = c
            continue
        by_post[c.post_id] = dataclasses.replace(
            seen,
            sources=seen.sources | c.sources,
            engagement_ages=max(seen.engagement_ages, c.engagement_ages, key=len),
            affinity=max(seen.affinity, c.affinity),
        )
    return list(by_post.values())


def diversify(ranked: Sequence[Ranked], *, max_per_author: int, window: int) -> list[Ranked]:
    """Reorder so no author has more than ``max_per_author`` items in any ``window`` in a row.

    Greedy: each slot takes the best remaining item whose author is under the cap among the
    previous ``window - 1`` slots. When only capped authors remain, the best of them is taken
    (the list's tail may then break the cap rather than lose posts).
    """
    remaining = list(ranked)
    out: list[Ranked] = []
    while remaining:
        recent = collections.Counter(r.author_id for r in out[max(0, len(out) - window + 1) :])
        if window <= 1:
            recent.clear()
        pick = next((i for i, r in enumerate(remaining) if recent[r.author_id] < max_per_author), 0)
        out.append(remaining.pop(pick))
    return out


def rank(
    candidates: Iterable[Candidate],
    exclusions: Exclusions,
    weights: Weights,
    *,
    max_per_author: int = 2,
    window: int = 20,
    limit: int = 200,
) -> list[Ranked]:
    """Merge, exclude, score, order (score desc, then post id desc) and diversify."""
    scored = [
        Ranked(post_id=c.post_id, author_id=c.author_id, reason=score(c, weights))
        for c in merge(candidates)
        if exclusions.allows(c)
    ]
    scored.sort(key=lambda r: (r.reason.score, r.post_id.int), reverse=True)
    return diversify(scored, max_per_author=max_per_author, window=window)[:limit]


@dataclasses.dataclass(frozen=True, slots=True)
class RecommendedItem(Generic[P]):
    """One item of a recommended-feed page; ``reason`` is None on the chronological fallback."""

    post: P
    reason: Reason | None


@dataclasses.dataclass(frozen=True, slots=True)
class RecsPage(Generic[P]):
    """One page of the recommended feed.

    Attributes:
        items: Hydrated posts (visibility and deletion applied) with why each is there.
        next_cursor: Pass back as ``after``; None at the end.
        source: ``RECOMMENDED``, or ``CHRONOLOGICAL_FALLBACK`` when the home feed was served.
    """

    items: list[RecommendedItem[P]]
    next_cursor: str | None
    source: RecsSource
