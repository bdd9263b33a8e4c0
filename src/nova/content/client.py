"""The interface other services use to reach content: ``ContentClient``.

In the single-process wiring :class:`LocalContentClient` calls the use cases directly; a gRPC
wiring provides another implementation of the same protocol. Callers depend on the protocol.

Example:
    >>> content = LocalContentClient.build(db=db, users=users)            # doctest: +SKIP
    >>> posts = await content.get_posts(actor, [post_id])                  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from nova.content.domain import (
    Comment,
    LikeState,
    Page,
    Post,
    Visibility,
    decode_cursor,
    encode_cursor,
)
from nova.content.engagement import Engagement
from nova.content.service import ContentService

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from nova.platform.context import Actor
    from nova.platform.db import Database
    from nova.users.client import UsersClient

__all__ = [
    "Comment",
    "ContentClient",
    "LikeState",
    "LocalContentClient",
    "Page",
    "Post",
    "Visibility",
    "decode_cursor",
    "encode_cursor",
]


class ContentClient(Protocol):
    """What the feed, the gateway and other services may ask of content."""

    async def publish_post(
        self,
        actor: Actor,
        *,
        body: str,
        visibility: str | Visibility = Visibility.PUBLIC,
        media_ids: Sequence[uuid.UUID] = (),
        idempotency_key: str | None = None,
    ) -> Post:
        """Publish a post (emits ``PostPublished``); a keyed retry returns the same post."""
        ...

    async def edit_post(
        self,
        actor: Actor,
        post_id: uuid.UUID,
        *,
        body: str,
        visibility: str | Visibility | None = None,
    ) -> Post:
        """Edit one's own post (emits ``PostEdited``)."""
        ...

    async def delete_post(self, actor: Actor, post_id: uuid.UUID) -> None:
        """Soft-delete one's own post (emits ``PostDeleted``)."""
        ...

    async def get_post(self, actor: Actor, post_id: uuid.UUID) -> Post:
        """One post the actor may see, else ``NotFoundError``."""
        ...

    async def get_posts(self, actor: Actor, post_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Post]:
        """The visible live posts among ``post_ids``, in one query."""
        ...

    async def list_user_posts(
        self, actor: Actor, author_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Post]:
        """An author's posts, newest first, as the actor may see them."""
        ...

    async def add_comment(
        self,
        actor: Actor,
        post_id: uuid.UUID,
        *,
        body: str,
        parent_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
    ) -> Comment:
        """Comment on a post or reply to a top-level comment (emits ``Commented``).

        A retry with the same ``idempotency_key`` returns the first call's comment.
        """
        ...

    async def delete_comment(self, actor: Actor, comment_id: uuid.UUID) -> None:
        """Delete a comment (its author or the post's author)."""
        ...

    async def list_comments(
        self, actor: Actor, post_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Comment]:
        """A post's comments, oldest first."""
        ...

    async def comment_count(self, actor: Actor, post_id: uuid.UUID) -> int:
        """The exact number of live comments on a post."""
        ...

    async def like(self, actor: Actor, post_id: uuid.UUID) -> LikeState:
        """Like a post, idempotently (emits ``Liked`` once)."""
        ...

    async def unlike(self, actor: Actor, post_id: uuid.UUID) -> LikeState:
        """Take a like back, idempotently (emits ``Unliked`` once)."""
        ...

    async def liked_by_viewer(
        self, actor: Actor, post_ids: Sequence[uuid.UUID]
    ) -> frozenset[uuid.UUID]:
        """Which of ``post_ids`` the actor likes, in one query."""
        ...


class LocalContentClient:
    """In-process :class:`ContentClient`: calls the use cases directly.

    Args:
        posts: The post use cases.
        engagement: The comment and like use cases.
    """

    def __init__(self, *, posts: ContentService, engagement: Engagement) -> None:
        self.posts = posts
        self.engagement = engagement
        self.publish_post = posts.publish_post
        self.edit_post = posts.edit_post
        self.delete_post = posts.delete_post
        self.get_post = posts.get_post
        self.get_posts = posts.get_posts
        self.list_user_posts = posts.list_user_posts
        self.add_comment = engagement.add_comment
        self.delete_comment = engagement.delete_comment
        self.list_comments = engagement.list_comments
        self.comment_count = engagement.comment_count
        self.like = engagement.like
        self.unlike = engagement.unlike
        self.liked_by_viewer = engagement.liked_by_viewer

    @classmethod
    def build(cls, *, db: Database, users: UsersClient) -> LocalContentClient:
        """Wire the content use cases over ``db`` and ``users``."""
        posts = ContentService(db=db, users=users)
        return cls(posts=posts, engagement=Engagement(db=db, users=users, posts=posts))
