"""Cache hints with Apollo semantics, computed once per document.

Types and fields declare hints with the ``@cacheControl`` schema directive (visible in
``schema.graphql``)::

    @strawberry.type(directives=[CacheControl(max_age=60)])
    class User: ...

The policy of a response is the minimum ``maxAge`` over its fields and ``PRIVATE`` if any
field is private. As in Apollo Server:

* a root field, or a field returning an object, interface or union, takes its own hint, else
  its return type's hint, else ``maxAge 0`` (uncacheable) -- unless its type is marked
  ``inherit_max_age`` (connections, edges, page info), which does not constrain;
* a scalar or enum field without a hint of its own inherits its parent's, so it never
  constrains the response.

Unlike Apollo the walk is static: every field the operation *selects* counts, whether or not it
resolved to null. That is conservative (never longer or more public than Apollo) and lets the
policy be computed once per document and cached, costing nothing per request.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any

import strawberry
from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    is_composite_type,
    visit,
)
from strawberry.schema_directive import Location

if TYPE_CHECKING:
    from graphql import DocumentNode, FieldNode

__all__ = ["CacheControl", "CachePolicy", "CacheScope", "HintTable", "compute_policy"]


@strawberry.enum
class CacheScope(enum.Enum):
    """Who may share a cached response: anyone (``PUBLIC``) or only this viewer (``PRIVATE``)."""

    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@strawberry.schema_directive(
    name="cacheControl", locations=[Location.OBJECT, Location.FIELD_DEFINITION, Location.INTERFACE]
)
class CacheControl:
    """How long a type's or field's value may be cached, and by whom."""

    # UNSET (not None) so the SDL prints only the arguments a hint actually sets.
    max_age: int | None = strawberry.UNSET
    scope: CacheScope | None = strawberry.UNSET
    inherit_max_age: bool | None = strawberry.UNSET


@dataclasses.dataclass(frozen=True, slots=True)
class CachePolicy:
    """The caching policy of one response.

    Attributes:
        max_age: Seconds the response may be cached; 0 means not at all.
        scope: ``PUBLIC`` when shared caches may keep it.
    """

    max_age: int
    scope: CacheScope

    @property
    def cacheable(self) -> bool:
        """True when some cache may keep the response."""
        return self.max_age > 0

    def restrict(self, *, max_age: int | None, scope: CacheScope | None) -> CachePolicy:
        """This policy narrowed by one more hint."""
        return CachePolicy(
            max_age=self.max_age if max_age is None else min(self.max_age, max_age),
            scope=CacheScope.PRIVATE if scope is CacheScope.PRIVATE else self.scope,
        )

    def header(self) -> str:
        """The ``Cache-Control`` header value for this policy."""
        if not self.cacheable:
            return "no-store"
        visibility = "private" if self.scope is CacheScope.PRIVATE else "public"
        return f"{visibility}, max-age={self.max_age}"


#: The policy of anything that must not be cached (mutations, errors).
NO_STORE = CachePolicy(max_age=0, scope=CacheScope.PRIVATE)

#: A policy that does not constrain: the starting point of the walk.
_UNBOUNDED = CachePolicy(max_age=2**31 - 1, scope=CacheScope.PUBLIC)


@dataclasses.dataclass(frozen=True, slots=True)
class _Hint:
    max_age: int | None
    scope: CacheScope | None
    inherit: bool


def _set(value: Any) -> Any:
    return None if value is strawberry.UNSET else value


def _hint_of(definition: Any) -> _Hint | None:
    for directive in getattr(definition, "directives", None) or ():
        if isinstance(directive, CacheControl):
            return _Hint(
                _set(directive.max_age),
                _set(directive.scope),
                bool(_set(directive.inherit_max_age)),
            )
    return None


class HintTable:
    """Every ``@cacheControl`` hint of a schema, read once when the schema is built.

    Args:
        schema: The graphql-core schema behind a Strawberry schema.
    """

    def __init__(self, schema: GraphQLSchema) -> None:
        self.types: dict[str, _Hint] = {}
        self.fields: dict[tuple[str, str], _Hint] = {}
        for name, gtype in schema.type_map.items():
            definition = (gtype.extensions or {}).get("strawberry-definition")
            hint = _hint_of(definition)
            if hint is not None:
                self.types[name] = hint
            for field_name, field in getattr(gtype, "fields", {}).items():
                field_hint = _hint_of((field.extensions or {}).get("strawberry-definition"))
                if field_hint is not None:
                    self.fields[name, field_name] = field_hint
        self.roots = {t.name for t in (schema.query_type, schema.mutation_type) if t is not None}


def compute_policy(schema: GraphQLSchema, hints: HintTable, document: DocumentNode) -> CachePolicy:
    """The cache policy of ``document`` (every operation and fragment in it).

    Args:
        schema: The schema the document was validated against.
        hints: The schema's hints.
        document: A parsed, valid document.
    """
    type_info = TypeInfo(schema)
    policy = _UNBOUNDED

    class _Walk(Visitor):
        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            nonlocal policy
            parent = type_info.get_parent_type()
            field: GraphQLField | None = type_info.get_field_def()
            if parent is None or field is None:
                return
            own = hints.fields.get((parent.name, node.name.value))
            returned = get_named_type(field.type)
            is_root = isinstance(parent, GraphQLObjectType) and parent.name in hints.roots
            if not is_composite_type(returned) and not is_root:
                if own is not None:
                    policy = policy.restrict(max_age=own.max_age, scope=own.scope)
                return
            type_hint = hints.types.get(returned.name)
            if own is not None and own.max_age is not None:
                max_age: int | None = own.max_age
            elif type_hint is not None and type_hint.inherit:
                max_age = None
            elif type_hint is not None and type_hint.max_age is not None:
                max_age = type_hint.max_age
            else:
                max_age = 0
            scope = (own.scope if own is not None else None) or (
                type_hint.scope if type_hint is not None else None
            )
            policy = policy.restrict(max_age=max_age, scope=scope)

    visit(document, TypeInfoVisitor(type_info, _Walk()))
    if policy.max_age == _UNBOUNDED.max_age:  # nothing but __typename: nothing to bound it
        return NO_STORE
    return policy
