"""Content use cases: publish, edit and delete posts; read them as a viewer may see them.

Each mutating use case is one ``async with db.write()`` block: the change and its outbox event
commit together or not at all. Authorization asks the users service once per call (or per
page), never once per post. Comments and likes live in :mod:`nova.content.engagement`.

Example:
    >>> content = ContentService(db=db, users=users)                       # doctest: +SKIP
    >>> post = await content.publish_post(actor, body="hello")             # doctest: +SKIP
    >>> page = await content.list_user_posts(actor, post.author_id)        # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from nova.content import domain, store
from nova.content.domain import ContentEvent, Page, Post, Visibility
from nova.platform import errors, idempotency
from nova.platform.events import Event, outbox
from nova.platform.ids import new_id
from nova.users.client import FollowState

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from nova.platform.context import Actor
    from nova.platform.db import Database
    from nova.users.client import UsersClient

__all__ = ["ContentService", "post_event"]


def post_event(actor: Actor, kind: ContentEvent, post: Post, **extra: object) -> Event:
    """The outbox event ``kind`` about ``post``, caused by ``actor``."""
    payload: dict[str, object] = {
        "post_id": str(post.id),
        "author_id": str(post.author_id),
        "visibility": str(post.visibility),
        "created_at": post.created_at.isoformat(),
    }
    payload.update(extra)
    return Event(
        event_type=str(kind),
        aggregate_type="post",
        aggregate_id=str(post.id),
        tenant_id=post.tenant_id,
        payload=payload,
        correlation_id=actor.correlation_id,
    )


def require_user(actor: Actor) -> uuid.UUID:
    """The acting user's id.

    Raises:
        errors.UnauthenticatedError: the actor is anonymous.
    """
    if actor.user_id is None:
        raise errors.UnauthenticatedError("Sign in to do this.")
    return actor.user_id


class ContentService:
    """Post use cases over PostgreSQL, authorized through the users service.

    Args:
        db: The database (writes go to the primary).
        users: How content reaches the users service.
    """

    def __init__(self, *, db: Database, users: UsersClient) -> None:
        self._db = db
        self._users = users

    # -- authorization helpers shared with engagement ------------------------------------------

    async def visible(self, actor: Actor, posts: Iterable[Post]) -> list[Post]:
        """The subset of ``posts`` the actor may see, in the given order (one users call)."""
        posts = list(posts)
        viewer = actor.user_id
        others = sorted({p.author_id for p in posts if p.author_id != viewer})
        relations = (
            await self._users.relations(actor, viewer_id=viewer, other_ids=others)
            if viewer is not None and others
            else {}
        )
        kept = []
        for post in posts:
            relation = relations.get(post.author_id)
            follows = relation is not None and relation.follow is FollowState.FOLLOWING
            blocked = relation is not None and relation.blocked_either_way
            if domain.can_view(post, viewer_id=viewer, follows_author=follows, blocked=blocked):
                kept.append(post)
        return kept

    async def check_visible_post(self, actor: Actor, post_id: uuid.UUID) -> Post:
        """The live post ``post_id`` if the actor may see it.

        Raises:
            errors.NotFoundError: absent, deleted or invisible to the actor (indistinguishable).
        """
        post = await self._db.run_read(store.find_post, post_id)
        if post is None or not await self.visible(actor, [post]):
            raise errors.NotFoundError("This post does not exist.", field="postId")
        return post

    # -- use cases ------------------------------------------------------------------------------

    async def publish_post(
        self,
        actor: Actor,
        *,
        body: str,
        visibility: str | Visibility = Visibility.PUBLIC,
        media_ids: Sequence[uuid.UUID] = (),
        idempotency_key: str | None = None,
    ) -> Post:
        """Publish a post and, in the same transaction, its ``PostPublished`` event.

        A retry with the same ``idempotency_key`` returns the post of the first call instead
        of publishing twice.

        Raises:
            errors.UnauthenticatedError: anonymous actor.
            errors.InvalidInputError: empty or too long body, bad visibility, unknown or foreign
                media (``field`` names the input).
            errors.ConflictError: the idempotency key was used for another request.
        """
        author = require_user(actor)
        media = domain.check_media_ids(list(media_ids))
        text = domain.check_post_body(body, has_media=bool(media))
        vis = domain.check_visibility(visibility)
        created: list[Post] = []
        async with self._db.write() as conn:

            async def publish() -> dict[str, object]:
                if media:
                    owned = await store.count_owned_media(
                        conn, media_ids=media, owner_id=author, tenant_id=actor.tenant_id
                    )
                    if owned != len(media):
                        raise errors.InvalidInputError(
                            "Attach only media you uploaded; one or more ids are unknown.",
                            field="mediaIds",
                        )
                post = await store.insert_post(
                    conn,
                    post_id=new_id(),
                    tenant_id=actor.tenant_id,
                    author_id=author,
                    body=text,
                    visibility=vis,
                    media_ids=media,
                )
                await outbox.append(conn, post_event(actor, ContentEvent.POST_PUBLISHED, post))
                created.append(post)
                return {"post_id": str(post.id)}

            outcome = await idempotency.run_once(
                conn,
                scope=idempotency.Scope(actor.tenant_id, author, idempotency_key),
                operation="content.publish_post",
                request={"body": text, "visibility": str(vis), "media": [str(m) for m in media]},
                execute=publish,
            )
            if created:
                return created[0]
            # A replay: answer with the post the first request published.
            post = await store.find_post(conn, uuid.UUID(str(outcome.response["post_id"])))
        if post is None:
            raise errors.NotFoundError("The post of this request was deleted.", field="postId")
        return post

    async def edit_post(
        self,
        actor: Actor,
        post_id: uuid.UUID,
        *,
        body: str,
        visibility: str | Visibility | None = None,
    ) -> Post:
        """Change a post's body (and optionally its visibility); bumps ``version``.

        Raises:
            errors.NotFoundError: no such live post visible to the actor.
            errors.PermissionDeniedError: the actor sees the post but is not its author.
            errors.InvalidInputError: bad body or visibility.
        """
        editor = require_user(actor)
        current = await self.check_visible_post(actor, post_id)
        if current.author_id != editor:
            raise errors.PermissionDeniedError("Only the author can edit a post.", field="postId")
        text = domain.check_post_body(body, has_media=bool(current.media_ids))
        vis = domain.check_visibility(visibility) if visibility is not None else current.visibility
        async with self._db.write() as conn:
            post = await store.update_post(
                conn, post_id=post_id, author_id=editor, body=text, visibility=vis
            )
            if post is None:
                raise errors.NotFoundError("This post does not exist.", field="postId")
            await outbox.append(
                conn, post_event(actor, ContentEvent.POST_EDITED, post, version=post.version)
            )
        return post

    async def delete_post(self, actor: Actor, post_id: uuid.UUID) -> None:
        """Soft-delete a post; it leaves every listing and feed at once.

        Raises:
            errors.NotFoundError: no such live post visible to the actor.
            errors.PermissionDeniedError: the actor sees the post but is not its author.
        """
        author = require_user(actor)
        post = await self.check_visible_post(actor, post_id)
        if post.author_id != author:
            raise errors.PermissionDeniedError("Only the author can delete a post.", field="postId")
        async with self._db.write() as conn:
            if not await store.delete_post(conn, post_id=post_id, author_id=author):
                raise errors.NotFoundError("This post does not exist.", field="postId")
            await outbox.append(conn, post_event(actor, ContentEvent.POST_DELETED, post))

    async def get_post(self, actor: Actor, post_id: uuid.UUID) -> Post:
        """One post as the actor may see it.

        Raises:
            errors.NotFoundError: absent, deleted or invisible to the actor.
        """
        return await self.check_visible_post(actor, post_id)

    async def get_posts(self, actor: Actor, post_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Post]:
        """Posts by id in one query, keeping only those the actor may see.

        Absent, deleted and invisible ids are missing from the result; callers keep their own
        order by iterating their ids.
        """
        if not post_ids:
            return {}
        found = await self._db.run_read(store.get_posts, list(dict.fromkeys(post_ids)))
        return {p.id: p for p in await self.visible(actor, found.values())}

    async def list_user_posts(
        self,
        actor: Actor,
        author_id: uuid.UUID,
        *,
        after: str | None = None,
        limit: int = 20,
    ) -> Page[Post]:
        """One author's posts, newest first, as the actor may see them (keyset on id).

        Raises:
            errors.InvalidInputError: bad cursor or limit.
            errors.NotFoundError: the actor and the author block each other.
        """
        before = domain.decode_cursor(after)
        limit = domain.check_limit(limit)
        viewer = actor.user_id
        follows = False
        if viewer is not None and viewer != author_id:
            relation = (
                await self._users.relations(actor, viewer_id=viewer, other_ids=[author_id])
            ).get(author_id)
            if relation is not None and relation.blocked_either_way:
                raise errors.NotFoundError("This user does not exist.", field="authorId")
            follows = relation is not None and relation.follow is FollowState.FOLLOWING
        visibilities = domain.visible_visibilities(
            is_author=viewer == author_id, follows_author=follows
        )
        posts = await self._db.run_read(
            store.list_user_posts,
            author_id=author_id,
            before=before,
            visibilities=visibilities,
            limit=limit,
        )
        cursor = domain.encode_cursor(posts[-1].id) if len(posts) == limit else None
        return Page(items=posts, next_cursor=cursor)
