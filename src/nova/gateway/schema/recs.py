"""The recommended ("For you") feed and its click signal; personalized, so never cacheable.

``recommendedFeed`` serves the viewer's precomputed ranked list (see docs/recommendations.md);
when ClickHouse is slow or down it serves the chronological home feed instead and says so in
``source``. A gateway built without a recommendations client (``Services.recs`` unset, as in
some tests) always serves that fallback; both wirings of ``nova up`` have one. Every page
served is recorded by the recommendations service as one ``RecommendationsServed`` event
(impressions) and each ``recordRecommendationClick`` as a ``RecommendationClicked`` event,
through the outbox into ClickHouse ``recommendation_events``; the counters
``nova_recommendation_impressions_total`` (here) and ``nova_recommendation_clicks_total``
(``observability.operations``) remain for dashboards.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import strawberry

from nova.gateway import relay
from nova.gateway.cache_control import CacheControl, CacheScope
from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import field, mutation
from nova.gateway.schema._mutation import IdempotencyKey, attempt, require_viewer
from nova.gateway.schema.types import PageInfo, Post, UserError
from nova.platform import errors
from nova.platform.observability import metrics
from nova.recs.domain import MAX_RECS_PAGE, Reason, RecommendedItem, RecsPage, RecsSource

if TYPE_CHECKING:
    from nova.content.client import Post as DomainPost

__all__ = ["RecsMutations", "RecsQueries"]

_PRIVATE = CacheControl(max_age=0, scope=CacheScope.PRIVATE)


@strawberry.enum(description="Which path served a recommended-feed page.")
class RecommendationSource(enum.Enum):
    RECOMMENDED = "RECOMMENDED"
    CHRONOLOGICAL_FALLBACK = "CHRONOLOGICAL_FALLBACK"


@strawberry.type(description="One part of a recommendation's score.")
class ScorePart:
    name: str = strawberry.field(description="source, velocity, affinity or recency.")
    value: float


@strawberry.type(description="Why a post was recommended.")
class RecommendationReason:
    sources: list[str] = strawberry.field(
        description="Candidate sources that proposed it (friends_engaged, trending, ...)."
    )
    score: float = strawberry.field(description="The ranking score: the sum of the parts.")
    parts: list[ScorePart]

    @classmethod
    def of(cls, reason: Reason) -> RecommendationReason:
        """The API shape of a domain :class:`~nova.recs.domain.Reason`."""
        return cls(
            sources=list(reason.sources),
            score=reason.score,
            parts=[ScorePart(name=name, value=value) for name, value in reason.parts],
        )


@strawberry.type(directives=[_PRIVATE], description="A recommended post and why.")
class RecommendedEdge:
    node: Post
    reason: RecommendationReason | None = strawberry.field(
        description="Null on the chronological fallback."
    )


@strawberry.type(directives=[_PRIVATE], description="A page of the recommended feed.")
class RecommendedFeedConnection:
    edges: list[RecommendedEdge]
    page_info: PageInfo
    source: RecommendationSource = strawberry.field(
        description="RECOMMENDED, or CHRONOLOGICAL_FALLBACK when the home feed was served."
    )


@strawberry.type
class RecommendationClickPayload:
    recorded: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _page(info: GatewayInfo, *, first: int, after: str | None) -> RecsPage[DomainPost]:
    ctx = info.context
    if ctx.services.recs is not None:
        return await ctx.services.recs.recommended_feed(ctx.actor, first=first, after=after)
    home = await ctx.services.feed.home_feed(
        ctx.actor, after=after.removeprefix("c:") if after else None, limit=first
    )
    return RecsPage(
        items=[RecommendedItem(post=p, reason=None) for p in home.items],
        next_cursor=None if home.next_cursor is None else f"c:{home.next_cursor}",
        source=RecsSource.CHRONOLOGICAL_FALLBACK,
    )


@strawberry.type
class RecsQueries:
    @field(
        directives=[_PRIVATE],
        description=(
            "Posts recommended for the viewer, best first, each with its reason; the "
            "chronological home feed (source CHRONOLOGICAL_FALLBACK) when recommendations "
            "are unavailable."
        ),
    )
    async def recommended_feed(
        self, info: GatewayInfo, first: int = 20, after: str | None = None
    ) -> RecommendedFeedConnection:
        require_viewer(info)
        if not 1 <= first <= MAX_RECS_PAGE:
            raise errors.InvalidInputError(
                f"first must be between 1 and {MAX_RECS_PAGE} (got {first}).", field="first"
            )
        page = await _page(info, first=first, after=relay.decode_cursor(after))
        reasons = {item.post.id: item.reason for item in page.items}
        nodes = await hydrate.posts(info, [item.post for item in page.items])
        source = RecommendationSource(page.source.value)
        if source is RecommendationSource.RECOMMENDED and nodes:
            metrics.BUSINESS["recommendation_impressions"].inc(len(nodes))
        return RecommendedFeedConnection(
            edges=[
                RecommendedEdge(
                    node=node,
                    reason=None
                    if (r := reasons.get(node.post_id)) is None
                    else RecommendationReason.of(r),
                )
                for node in nodes
            ],
            page_info=PageInfo.of(page.next_cursor),
            source=source,
        )


@strawberry.type
class RecsMutations:
    @mutation(
        description=(
            "Record that the viewer opened a recommended post (an event, for evaluation). "
            "recorded is false where this wiring serves no recommendations."
        )
    )
    async def record_recommendation_click(
        self, info: GatewayInfo, post_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> RecommendationClickPayload:
        ctx = info.context

        async def run() -> bool:
            require_viewer(info)
            target = relay.from_global_id(post_id, expected="Post", field="postId")
            if ctx.services.recs is None:
                return False
            await ctx.services.recs.record_click(
                ctx.actor, post_id=target, idempotency_key=idempotency_key
            )
            return True

        recorded, errs = await attempt(run())
        return RecommendationClickPayload(recorded=bool(recorded), errors=errs)
