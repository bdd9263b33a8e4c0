"""Engagement use cases: comments (replies one level deep) and likes.

Counters stay exact under concurrency because they move only together with a row that was
really inserted or deleted, in the same transaction (``INSERT … ON CONFLICT DO NOTHING
RETURNING`` then ``UPDATE posts SET like_count = like_count + 1``).

Who may comment: the post must be visible to the commenter (blocks included), and the post
author's ``who_can_comment`` preference (everyone, followers, nobody) is honoured; the author
may always comment on their own posts.

Example:
    >>> engagement = Engagement(db=db, users=users, posts=content)         # doctest: +SKIP
    >>> state = await engagement.like(actor, post_id)                      # doctest: +SKIP
    >>> state.like_count                                                   # doctest: +SKIP
    1
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from nova.content import domain, store
from nova.content.domain import Comment, ContentEvent, LikeState, Page
from nova.content.service import require_user
from nova.platform import errors, idempotency
from nova.platform.events import Event, outbox
from nova.platform.ids import new_id
from nova.users.client import FollowState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.content.domain import Post
    from nova.content.service import ContentService
    from nova.platform.context import Actor
    from nova.platform.db import Connection, Database
    from nova.users.client import UsersClient

__all__ = ["Engagement"]


def _event(actor: Actor, kind: ContentEvent, post: Post, payload: dict[str, object]) -> Event:
    return Event(
        event_type=str(kind),
        aggregate_type="post",
        aggregate_id=str(post.id),
        tenant_id=post.tenant_id,
        payload={"post_id": str(post.id), "author_id": str(post.author_id), **payload},
        correlation_id=actor.correlation_id,
    )


class Engagement:
    """Comment and like use cases.

    Args:
        db: The database.
        users: How content reaches the users service.
        posts: The post service, for visibility checks.
    """

    def __init__(self, *, db: Database, users: UsersClient, posts: ContentService) -> None:
        self._db = db
        self._users = users
        self._posts = posts

    async def add_comment(
        self,
        actor: Actor,
        post_id: uuid.UUID,
        *,
        body: str,
        parent_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
    ) -> Comment:
        """Comment on a post, or reply to a top-level comment of it.

        A retry with the same ``idempotency_key`` returns the comment of the first call: the key
        is stored with the comment in one transaction (:mod:`nova.platform.idempotency`).

        Raises:
            errors.NotFoundError: the post (or parent comment) is absent, deleted or invisible.
            errors.PermissionDeniedError: the author's ``who_can_comment`` excludes the actor.
            errors.InvalidInputError: empty or long body; the parent is a reply or belongs to
                another post (``field="parentId"``).
            errors.ConflictError: the idempotency key was used for another request.
        """
        author = require_user(actor)
        text = domain.check_comment_body(body)
        post = await self._posts.check_visible_post(actor, post_id)
        if post.author_id != author:
            await self._check_may_comment(actor, post, commenter=author)
        created: list[Comment] = []
        async with self._db.write() as conn:

            async def insert() -> dict[str, object]:
                comment = await self._insert_comment(
                    conn, actor, post, author=author, parent_id=parent_id, body=text
                )
                created.append(comment)
                return {"comment_id": str(comment.id)}

            outcome = await idempotency.run_once(
                conn,
                scope=idempotency.Scope(actor.tenant_id, author, idempotency_key),
                operation="content.add_comment",
                request={"post": str(post_id), "body": text, "parent": str(parent_id)},
                execute=insert,
            )
            if created:
                return created[0]
            # A replay: answer with the comment the first request added.
            found = await store.find_comment(conn, uuid.UUID(str(outcome.response["comment_id"])))
        if found is None:
            raise errors.NotFoundError(
                "The comment of this request was deleted.", field="commentId"
            )
        return found

    async def _insert_comment(
        self,
        conn: Connection,
        actor: Actor,
        post: Post,
        *,
        author: uuid.UUID,
        parent_id: uuid.UUID | None,
        body: str,
    ) -> Comment:
        if parent_id is not None:
            parent = await store.find_comment(conn, parent_id)
            if parent is None or parent.post_id != post.id:
                raise errors.NotFoundError(
                    "The comment you reply to does not exist on this post.", field="parentId"
                )
            if parent.parent_id is not None:
                raise errors.InvalidInputError(
                    "Replies are one level deep; reply to the top-level comment instead.",
                    field="parentId",
                )
        # Locks the post row first: a concurrent delete either wins (we fail) or waits.
        if await store.add_to_comment_count(conn, post.id, 1) is None:
            raise errors.NotFoundError("This post does not exist.", field="postId")
        comment = await store.insert_comment(
            conn,
            comment_id=new_id(),
            tenant_id=actor.tenant_id,
            post_id=post.id,
            author_id=author,
            parent_id=parent_id,
            body=body,
        )
        payload: dict[str, object] = {
            "comment_id": str(comment.id),
            "commenter_id": str(author),
            "parent_id": str(parent_id) if parent_id else None,
        }
        await outbox.append(conn, _event(actor, ContentEvent.COMMENTED, post, payload))
        return comment

    async def _check_may_comment(self, actor: Actor, post: Post, *, commenter: uuid.UUID) -> None:
        audience = (await self._users.get_preferences(actor, post.author_id)).who_can_comment
        if audience == "everyone":
            return
        if audience == "followers":
            relations = await self._users.relations(
                actor, viewer_id=commenter, other_ids=[post.author_id]
            )
            relation = relations.get(post.author_id)
            if relation is not None and relation.follow is FollowState.FOLLOWING:
                return
            raise errors.PermissionDeniedError(
                "Only the author's followers can comment on this post.", field="postId"
            )
        raise errors.PermissionDeniedError(
            "The author has turned comments off for their posts.", field="postId"
        )

    async def delete_comment(self, actor: Actor, comment_id: uuid.UUID) -> None:
        """Delete a comment; allowed to its author and to the post's author.

        Raises:
            errors.NotFoundError: no such live comment on a post the actor sees.
            errors.PermissionDeniedError: the actor wrote neither the comment nor the post.
        """
        user = require_user(actor)
        comment = await self._db.run_read(store.find_comment, comment_id)
        if comment is None:
            raise errors.NotFoundError("This comment does not exist.", field="commentId")
        post = await self._posts.check_visible_post(actor, comment.post_id)
        if user not in (comment.author_id, post.author_id):
            raise errors.PermissionDeniedError(
                "Only the comment's author or the post's author can delete it.",
                field="commentId",
            )
        async with self._db.write() as conn:
            if not await store.soft_delete_comment(conn, comment_id):
                raise errors.NotFoundError("This comment does not exist.", field="commentId")
            await store.decrement_comment_count(conn, comment.post_id)
            payload: dict[str, object] = {"comment_id": str(comment_id), "deleted_by": str(user)}
            await outbox.append(conn, _event(actor, ContentEvent.COMMENT_DELETED, post, payload))

    async def list_comments(
        self, actor: Actor, post_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Comment]:
        """A post's comments, oldest first, without those of authors hidden from the actor.

        Raises:
            errors.NotFoundError: the post is absent, deleted or invisible.
            errors.InvalidInputError: bad cursor or limit.
        """
        start = domain.decode_cursor(after)
        limit = domain.check_limit(limit)
        await self._posts.check_visible_post(actor, post_id)
        hidden: frozenset[uuid.UUID] = frozenset()
        if actor.user_id is not None:
            hidden = await self._users.hidden_author_ids(actor, actor.user_id)
        comments = await self._db.run_read(
            store.list_comments,
            post_id=post_id,
            after=start,
            hidden_author_ids=sorted(hidden),
            limit=limit,
        )
        cursor = domain.encode_cursor(comments[-1].id) if len(comments) == limit else None
        return Page(items=comments, next_cursor=cursor)

    async def comment_count(self, actor: Actor, post_id: uuid.UUID) -> int:
        """The exact number of live comments on a post the actor sees.

        Raises:
            errors.NotFoundError: the post is absent, deleted or invisible.
        """
        return (await self._posts.check_visible_post(actor, post_id)).comment_count

    async def like(self, actor: Actor, post_id: uuid.UUID) -> LikeState:
        """Like a post; liking twice changes nothing.

        Raises:
            errors.NotFoundError: the post is absent, deleted or invisible.
        """
        user = require_user(actor)
        post = await self._posts.check_visible_post(actor, post_id)
        async with self._db.write() as conn:
            inserted = await store.insert_like(
                conn, tenant_id=actor.tenant_id, post_id=post_id, user_id=user
            )
            if inserted:
                count = await store.add_to_like_count(conn, post_id, 1)
                if count is not None:
                    payload: dict[str, object] = {"user_id": str(user)}
                    await outbox.append(conn, _event(actor, ContentEvent.LIKED, post, payload))
            else:
                count = await store.like_count(conn, post_id)
            if count is None:
                raise errors.NotFoundError("This post does not exist.", field="postId")
        return LikeState(post_id=post_id, liked=True, like_count=count, changed=inserted)

    async def unlike(self, actor: Actor, post_id: uuid.UUID) -> LikeState:
        """Take a like back; unliking a post not liked changes nothing.

        Raises:
            errors.NotFoundError: the post is absent, deleted or invisible.
        """
        user = require_user(actor)
        post = await self._posts.check_visible_post(actor, post_id)
        async with self._db.write() as conn:
            removed = await store.delete_like(conn, post_id=post_id, user_id=user)
            if removed:
                count = await store.add_to_like_count(conn, post_id, -1)
                if count is not None:
                    payload: dict[str, object] = {"user_id": str(user)}
                    await outbox.append(conn, _event(actor, ContentEvent.UNLIKED, post, payload))
            else:
                count = await store.like_count(conn, post_id)
            if count is None:
                raise errors.NotFoundError("This post does not exist.", field="postId")
        return LikeState(post_id=post_id, liked=False, like_count=count, changed=removed)

    async def liked_by_viewer(
        self, actor: Actor, post_ids: Sequence[uuid.UUID]
    ) -> frozenset[uuid.UUID]:
        """Which of ``post_ids`` the actor likes, in one query (empty for anonymous actors)."""
        if actor.user_id is None or not post_ids:
            return frozenset()
        return await self._db.run_read(
            store.liked_post_ids, user_id=actor.user_id, post_ids=list(dict.fromkeys(post_ids))
        )
