"""The public GraphQL schema, assembled from one module per area.

=====================  =====================================================
module                 contents
=====================  =====================================================
``types``              nodes (User, Post, Comment), connections, UserError
``users``              viewer, user, followers, following, requests, search
``posts``              post, node, userPosts, comments
``feed``               homeFeed
``recs``               recommendedFeed, recordRecommendationClick
``mutations_auth``     register, login, refreshToken, logout
``mutations_profile``  updateProfile, updatePreferences
``mutations_graph``    follow, unfollow, requests, block, mute
``mutations_posts``    posts, likes, comments
=====================  =====================================================

Example:
    >>> gateway_schema = build_schema(production=False)
    >>> "homeFeed" in gateway_schema.schema.as_str()
    True
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from typing_extensions import override

from nova.gateway.cache_control import CachePolicy, HintTable, compute_policy
from nova.gateway.context import GatewayContext
from nova.gateway.errors import nova_error_of
from nova.gateway.limits import GatewayPolicy, cost_rule
from nova.gateway.schema.feed import FeedQueries
from nova.gateway.schema.mutations_auth import AuthMutations
from nova.gateway.schema.mutations_graph import GraphMutations
from nova.gateway.schema.mutations_posts import PostMutations
from nova.gateway.schema.mutations_profile import ProfileMutations
from nova.gateway.schema.posts import PostQueries
from nova.gateway.schema.recs import RecsMutations, RecsQueries
from nova.gateway.schema.types import Comment, Post, User
from nova.gateway.schema.users import UserQueries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from graphql import DocumentNode, GraphQLError
    from strawberry.types import ExecutionContext

__all__ = ["GatewaySchema", "build_schema"]

#: Documents whose cache policy is remembered (bounded: documents come from clients).
_POLICY_CACHE_SIZE = 2_048


@strawberry.type(description="Entry points for reading.")
class Query(UserQueries, PostQueries, FeedQueries, RecsQueries):
    pass


@strawberry.type(description="Entry points for writing; each returns a payload with errors.")
class Mutation(AuthMutations, ProfileMutations, GraphMutations, PostMutations, RecsMutations):
    pass


@dataclasses.dataclass(slots=True)
class GatewaySchema:
    """The schema with what the transport needs beside it.

    Attributes:
        schema: The Strawberry schema.
        hints: Its ``@cacheControl`` hints.
        policies: Cache policy per document text, filled as documents are first executed.
    """

    schema: strawberry.Schema
    hints: HintTable
    policies: dict[str, CachePolicy] = dataclasses.field(default_factory=dict)

    def policy_for(self, query: str, document: DocumentNode) -> CachePolicy:
        """The cache policy of ``query`` (computed once per distinct text)."""
        found = self.policies.get(query)
        if found is None:
            found = compute_policy(self.schema._schema, self.hints, document)
            if len(self.policies) >= _POLICY_CACHE_SIZE:
                self.policies.clear()
            self.policies[query] = found
        return found


logger = logging.getLogger(__name__)


class _NovaSchema(strawberry.Schema):
    """Logs unexpected errors with their trace; expected :class:`NovaError` s only briefly.

    Strawberry logs every resolver error at ERROR with a traceback; a wrong password or an
    expired token is not an incident, and tracebacks of them drown the real ones.
    """

    @override
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = []
        for error in errors:
            expected = nova_error_of(error)
            if expected is None:
                unexpected.append(error)
            else:
                logger.info(
                    "request failed: %s", expected.message, extra={"error.type": str(expected.code)}
                )
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(
    *, production: bool, policy: GatewayPolicy | None = None, document_cache: bool = True
) -> GatewaySchema:
    """Build the public schema with its caches and limits.

    Args:
        production: Turns introspection and "did you mean" suggestions off.
        policy: Depth, alias, token and cost limits (defaults when omitted).
        document_cache: Cache parsed and validated documents; False parses and validates
            every request (``NOVA_GRAPHQL_DOCUMENT_CACHE=off``, the benchmark baseline).
    """
    limits = policy or GatewayPolicy()
    holder: list[GatewaySchema] = []

    class CachePolicyExtension(SchemaExtension):
        """Records the operation type and cache policy once the document validated."""

        @override
        def on_execute(self) -> Iterator[None]:
            ec = self.execution_context
            ctx = ec.context
            if isinstance(ctx, GatewayContext) and ec.graphql_document is not None:
                ctx.operation_type = ec.operation_type.value
                ctx.cache_policy = holder[0].policy_for(ec.query or "", ec.graphql_document)
            yield

    # The limiters create their rule classes on construction; build them once so every
    # request validates with the *same* classes, or the validation cache (keyed by the rules)
    # would never hit.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        cost_rule(limits.max_cost),
    ]
    if production:
        rules.extend(DisableIntrospection().validation_rules)
    # Factories, not instances: Strawberry builds fresh extensions per request. The parse and
    # validation caches are module-level LRUs keyed by size, so they persist across requests.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=1_024),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=1_024),
        CachePolicyExtension,
    ]
    if not document_cache:
        extensions = [extensions[0], extensions[2], CachePolicyExtension]
    schema = _NovaSchema(
        query=Query,
        mutation=Mutation,
        types=[User, Post, Comment],
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production),
    )
    built = GatewaySchema(schema=schema, hints=HintTable(schema._schema))
    holder.append(built)
    return built
