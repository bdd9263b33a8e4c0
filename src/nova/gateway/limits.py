"""Limits on what one GraphQL document may ask for, checked at validation time.

Depth, aliases and tokens use Strawberry's limiters; the *cost* rule here multiplies each
field by the page sizes above it (``first``, default 20, variables counted at the maximum of
100), so ``homeFeed(first: 100) { edges { node { author { ... } } } }`` is priced as the
hundreds of objects it may return. All of these run before any resolver does.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
)

from nova.gateway.ratelimit import RateLimit

if TYPE_CHECKING:
    from graphql import SelectionSetNode, ValidationContext

__all__ = ["GatewayPolicy", "cost_rule"]

_DEFAULT_PAGE = 20
_MAX_PAGE = 100


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayPolicy:
    """Limits of the GraphQL endpoint.

    Attributes:
        max_body_bytes: Largest request body (and GET query string) accepted.
        max_batch: Most operations in one batched request.
        max_depth: Deepest selection nesting.
        max_aliases: Most aliased fields per document.
        max_tokens: Most lexer tokens per document (bounds parse work).
        max_cost: Highest estimated cost (fields times page sizes).
        user_limit: Per-user request rate.
        ip_limit: Per-client-address request rate.
    """

    max_body_bytes: int = 64 * 1024
    max_batch: int = 10
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 4_000
    max_cost: int = 10_000
    user_limit: RateLimit = dataclasses.field(
        default_factory=lambda: RateLimit(per_minute=600, burst=120)
    )
    ip_limit: RateLimit = dataclasses.field(
        default_factory=lambda: RateLimit(per_minute=1_200, burst=240)
    )


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), _MAX_PAGE))
            return _MAX_PAGE
    return _DEFAULT_PAGE if field.name.value in _CONNECTIONS else 1


_CONNECTIONS = frozenset(
    {"homeFeed", "userPosts", "comments", "followers", "following", "followRequests"}
)


def _cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1 + _page_size(selection) * _cost(selection.selection_set, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # cycles are rejected elsewhere
                total += _cost(fragment.selection_set, fragments, seen | {name})
    return total


def cost_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule rejecting operations whose estimated cost exceeds ``max_cost``."""

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    cost = _cost(definition.selection_set, fragments, frozenset())
                    if cost > max_cost:
                        context.report_error(
                            GraphQLError(
                                f"The operation is too expensive (cost {cost}, limit {max_cost}); "
                                "ask for fewer fields or smaller pages.",
                                definition,
                                extensions={"code": "COST_LIMIT_EXCEEDED"},
                            )
                        )

    return CostLimit
