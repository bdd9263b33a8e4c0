"""The object types of the public API: nodes, connections, errors.

Every field is a plain attribute filled when the node is built, so graphql-core resolves all
of them synchronously with its default resolver (an async resolver costs ~4x per field, DESIGN
"Performance"). Relationships (``author``, ``viewerHasLiked``, the viewer fields of ``User``)
are loaded for a whole list at once by :mod:`nova.gateway.schema.hydrate`, through the
request's DataLoaders, before the nodes are built.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import strawberry

from nova.content.client import Visibility as DomainVisibility
from nova.gateway import relay
from nova.gateway.cache_control import CacheControl, CacheScope
from nova.gateway.schema._fields import field
from nova.platform import errors
from nova.users.client import FollowState as DomainFollowState

if TYPE_CHECKING:
    from nova.content.client import Comment as DomainComment
    from nova.content.client import Post as DomainPost
    from nova.users.client import Relation
    from nova.users.client import User as DomainUser

__all__ = [
    "Comment",
    "CommentConnection",
    "CommentEdge",
    "FollowState",
    "Node",
    "PageInfo",
    "Post",
    "PostConnection",
    "PostEdge",
    "User",
    "UserConnection",
    "UserEdge",
    "UserError",
    "Visibility",
    "clamp_first",
]

# strawberry.enum registers the domain enums in place; the aliases keep them usable as types.
strawberry.enum(DomainVisibility, name="Visibility", description="Who may see a post.")
strawberry.enum(
    DomainFollowState, name="FollowState", description="Where the viewer stands towards a user."
)
Visibility = DomainVisibility
FollowState = DomainFollowState

_PRIVATE = CacheControl(scope=CacheScope.PRIVATE)
_INHERIT = CacheControl(inherit_max_age=True)

#: Largest ``first`` any connection accepts.
MAX_FIRST = 100


def clamp_first(first: int) -> int:
    """Validate a page size.

    Raises:
        errors.InvalidInputError: ``first`` outside 1..100.
    """
    if not 1 <= first <= MAX_FIRST:
        raise errors.InvalidInputError(
            f"first must be between 1 and {MAX_FIRST} (got {first}).", field="first"
        )
    return first


@strawberry.interface(description="An object with a global id; refetch it with node(id:).")
class Node:
    id: strawberry.ID


@strawberry.type(description="An expected failure of a mutation.")
class UserError:
    field: str | None
    code: str
    message: str

    @classmethod
    def from_error(cls, error: errors.NovaError) -> UserError:
        """The client-visible entry for ``error``."""
        return cls(field=error.field, code=str(error.code), message=error.message)


@strawberry.type(directives=[_INHERIT], description="Where a page ends.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, next_cursor: str | None) -> PageInfo:
        """Page info from a service page's ``next_cursor``."""
        wrapped = relay.encode_cursor(next_cursor) if next_cursor is not None else None
        return cls(has_next_page=next_cursor is not None, end_cursor=wrapped)


@strawberry.type(directives=[CacheControl(max_age=60)], description="A user's public profile.")
class User(Node):
    username: str
    display_name: str
    bio: str
    is_private: bool
    follower_count: int
    following_count: int
    post_count: int
    created_at: dt.datetime
    viewer_follow_state: FollowState = strawberry.field(
        directives=[_PRIVATE], description="The viewer's follow state (NONE if anonymous)."
    )
    follows_viewer: bool = strawberry.field(
        directives=[_PRIVATE], description="Whether this user follows the viewer."
    )
    viewer_blocks: bool = strawberry.field(
        directives=[_PRIVATE], description="Whether the viewer blocks this user."
    )
    viewer_mutes: bool = strawberry.field(
        directives=[_PRIVATE], description="Whether the viewer mutes this user."
    )
    user_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_domain(cls, user: DomainUser, *, relation: Relation | None = None) -> User:
        """The node of ``user``; ``relation`` (the viewer's) fills the viewer fields."""
        return cls(
            id=strawberry.ID(relay.to_global_id("User", user.id)),
            username=user.username,
            display_name=user.display_name,
            bio=user.bio,
            is_private=user.is_private,
            follower_count=user.follower_count,
            following_count=user.following_count,
            post_count=user.post_count,
            created_at=user.created_at,
            viewer_follow_state=relation.follow if relation else DomainFollowState.NONE,
            follows_viewer=relation is not None and relation.followed_by,
            viewer_blocks=relation is not None and relation.blocking,
            viewer_mutes=relation is not None and relation.muting,
            user_id=user.id,
        )


@strawberry.type(directives=[CacheControl(max_age=30)], description="A post.")
class Post(Node):
    body: str
    visibility: Visibility
    like_count: int
    comment_count: int
    created_at: dt.datetime
    edited_at: dt.datetime | None
    author: User | None = strawberry.field(
        description="The author (null if the viewer may no longer see them)."
    )
    viewer_has_liked: bool = strawberry.field(
        directives=[_PRIVATE], description="Whether the viewer likes this post."
    )
    post_id: strawberry.Private[uuid.UUID]
    author_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_domain(
        cls, post: DomainPost, *, author: User | None = None, liked: bool = False
    ) -> Post:
        """The node of ``post`` with its (already loaded) author and the viewer's like."""
        return cls(
            id=strawberry.ID(relay.to_global_id("Post", post.id)),
            body=post.body,
            visibility=post.visibility,
            like_count=post.like_count,
            comment_count=post.comment_count,
            created_at=post.created_at,
            edited_at=post.edited_at,
            author=author,
            viewer_has_liked=liked,
            post_id=post.id,
            author_id=post.author_id,
        )


@strawberry.type(directives=[CacheControl(max_age=30)], description="A comment on a post.")
class Comment(Node):
    body: str
    created_at: dt.datetime
    author: User | None = strawberry.field(description="The author.")
    comment_id: strawberry.Private[uuid.UUID]
    post_id: strawberry.Private[uuid.UUID]
    author_id: strawberry.Private[uuid.UUID]
    parent: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_domain(cls, comment: DomainComment, *, author: User | None = None) -> Comment:
        """The node of ``comment`` with its (already loaded) author."""
        return cls(
            id=strawberry.ID(relay.to_global_id("Comment", comment.id)),
            body=comment.body,
            created_at=comment.created_at,
            author=author,
            comment_id=comment.id,
            post_id=comment.post_id,
            author_id=comment.author_id,
            parent=comment.parent_id,
        )

    @field(description="Global id of the comment this one replies to.")
    def parent_id(self) -> strawberry.ID | None:
        if self.parent is None:
            return None
        return strawberry.ID(relay.to_global_id("Comment", self.parent))

    @field(description="Global id of the post commented on.")
    def post_global_id(self) -> strawberry.ID:
        return strawberry.ID(relay.to_global_id("Post", self.post_id))


@strawberry.type(directives=[_INHERIT])
class PostEdge:
    node: Post
    cursor: str


@strawberry.type(directives=[_INHERIT], description="A page of posts.")
class PostConnection:
    edges: list[PostEdge]
    page_info: PageInfo


@strawberry.type(directives=[_INHERIT])
class CommentEdge:
    node: Comment
    cursor: str


@strawberry.type(directives=[_INHERIT], description="A page of comments.")
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo


@strawberry.type(directives=[_INHERIT])
class UserEdge:
    node: User
    cursor: str | None = strawberry.field(
        description="Resumes after this edge; only the last edge's cursor is set on user lists."
    )


@strawberry.type(directives=[_INHERIT], description="A page of users.")
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
