"""Build nodes for a whole list at once, loading only the relationships the query selects.

A resolver that returns posts calls :func:`posts` with the domain objects. It reads which
fields the operation selects below it and, for those only, loads every author, the viewer's
likes and the viewer's relation to the authors in one concurrent round of DataLoader batches
(one backend call each, whatever the page size). The nodes come back with those values as plain
attributes, so the rest of the response resolves synchronously.

Example:
    >>> nodes = await hydrate.posts(info, page.items)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from strawberry.types.nodes import SelectedField

from nova.gateway.schema.types import Comment, Post, User

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Sequence

    from nova.content.client import Comment as DomainComment
    from nova.content.client import Post as DomainPost
    from nova.gateway.context import GatewayInfo
    from nova.users.client import Relation
    from nova.users.client import User as DomainUser

__all__ = ["comment", "comments", "post", "posts", "selected_names", "user", "users"]

_VIEWER_FIELDS = frozenset({"viewerFollowState", "followsViewer", "viewerBlocks", "viewerMutes"})


def selected_names(info: GatewayInfo) -> frozenset[str]:
    """Every field name selected at or below the current field (fragments included)."""
    names: set[str] = set()
    stack: list[Any] = list(info.selected_fields)
    while stack:
        selection = stack.pop()
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        stack.extend(selection.selections)
    return frozenset(names)


async def _round(
    info: GatewayInfo,
    *,
    author_ids: Sequence[uuid.UUID],
    liked_ids: Sequence[uuid.UUID],
    names: frozenset[str],
) -> tuple[dict[uuid.UUID, User], frozenset[uuid.UUID]]:
    """Authors (with the viewer's relations) and liked ids, in one concurrent round."""
    loaders = info.context.loaders
    signed_in = info.context.actor.user_id is not None
    want_authors = "author" in names and bool(author_ids)
    want_relations = want_authors and signed_in and bool(names & _VIEWER_FIELDS)
    want_liked = "viewerHasLiked" in names and signed_in and bool(liked_ids)
    empty: list[Any] = []
    pending: list[Awaitable[list[Any]]] = [
        loaders.users.load_many(author_ids) if want_authors else _ready(empty),
        loaders.relations.load_many(author_ids) if want_relations else _ready(empty),
        loaders.liked.load_many(liked_ids) if want_liked else _ready(empty),
    ]
    found, relations, liked = await asyncio.gather(*pending)
    relation_of: dict[uuid.UUID, Relation | None] = dict(zip(author_ids, relations, strict=False))
    authors = {
        user.id: User.from_domain(user, relation=relation_of.get(user.id))
        for user in found
        if user is not None
    }
    liked_set = frozenset(i for i, yes in zip(liked_ids, liked, strict=False) if yes)
    return authors, liked_set


async def _ready(value: list[Any]) -> list[Any]:
    return value


async def posts(info: GatewayInfo, found: Sequence[DomainPost]) -> list[Post]:
    """Nodes for ``found`` with authors and likes loaded if selected."""
    names = selected_names(info)
    author_ids = list(dict.fromkeys(p.author_id for p in found))
    authors, liked = await _round(
        info, author_ids=author_ids, liked_ids=[p.id for p in found], names=names
    )
    return [
        Post.from_domain(p, author=authors.get(p.author_id), liked=p.id in liked) for p in found
    ]


async def comments(info: GatewayInfo, found: Sequence[DomainComment]) -> list[Comment]:
    """Nodes for ``found`` with authors loaded if selected."""
    names = selected_names(info)
    author_ids = list(dict.fromkeys(c.author_id for c in found))
    authors, _ = await _round(info, author_ids=author_ids, liked_ids=[], names=names)
    return [Comment.from_domain(c, author=authors.get(c.author_id)) for c in found]


async def users(info: GatewayInfo, found: Sequence[DomainUser]) -> list[User]:
    """Nodes for ``found`` with the viewer's relations loaded if selected."""
    names = selected_names(info)
    relations: list[Relation | None] = []
    if info.context.actor.user_id is not None and names & _VIEWER_FIELDS and found:
        relations = await info.context.loaders.relations.load_many([u.id for u in found])
    relation_of = dict(zip((u.id for u in found), relations, strict=False))
    return [User.from_domain(u, relation=relation_of.get(u.id)) for u in found]


async def post(info: GatewayInfo, found: DomainPost | None) -> Post | None:
    """The node of one post (None stays None)."""
    return (await posts(info, [found]))[0] if found is not None else None


async def comment(info: GatewayInfo, found: DomainComment | None) -> Comment | None:
    """The node of one comment (None stays None)."""
    return (await comments(info, [found]))[0] if found is not None else None


async def user(info: GatewayInfo, found: DomainUser | None) -> User | None:
    """The node of one user (None stays None)."""
    return (await users(info, [found]))[0] if found is not None else None
