"""Mutations over content: posts, likes and comments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from nova.gateway import relay
from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import mutation
from nova.gateway.schema._mutation import IdempotencyKey, attempt, require_viewer
from nova.gateway.schema.types import Comment, Post, UserError, Visibility

if TYPE_CHECKING:
    import uuid

    from nova.content.client import Comment as DomainComment

__all__ = ["PostMutations"]


@strawberry.type
class PostPayload:
    post: Post | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeletedPayload:
    deleted_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LikePayload:
    post: Post | None = None
    liked: bool = False
    like_count: int = 0
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CommentPayload:
    comment: Comment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _post_payload(info: GatewayInfo, post_id: uuid.UUID) -> Post | None:
    return await hydrate.post(info, await info.context.loaders.posts.load(post_id))


@strawberry.type
class PostMutations:
    @mutation(description="Publish a post.")
    async def create_post(
        self,
        info: GatewayInfo,
        body: str,
        visibility: Visibility = Visibility.PUBLIC,
        idempotency_key: IdempotencyKey = None,
    ) -> PostPayload:
        ctx = info.context

        async def run() -> Post | None:
            require_viewer(info)
            post = await ctx.services.content.publish_post(
                ctx.actor, body=body, visibility=visibility, idempotency_key=idempotency_key
            )
            return await hydrate.post(info, post)

        post, errs = await attempt(run())
        return PostPayload(post=post, errors=errs)

    @mutation(description="Edit one's own post.")
    async def edit_post(
        self,
        info: GatewayInfo,
        id: strawberry.ID,  # GraphQL argument name
        body: str,
        visibility: Visibility | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> PostPayload:
        ctx = info.context

        async def run() -> Post | None:
            require_viewer(info)
            post_id = relay.from_global_id(id, expected="Post")
            edited = await ctx.services.content.edit_post(
                ctx.actor, post_id, body=body, visibility=visibility
            )
            return await hydrate.post(info, edited)

        post, errs = await attempt(run())
        return PostPayload(post=post, errors=errs)

    @mutation(description="Delete one's own post.")
    async def delete_post(
        self,
        info: GatewayInfo,
        id: strawberry.ID,  # GraphQL argument name
        idempotency_key: IdempotencyKey = None,
    ) -> DeletedPayload:
        ctx = info.context

        async def run() -> None:
            require_viewer(info)
            await ctx.services.content.delete_post(
                ctx.actor, relay.from_global_id(id, expected="Post")
            )

        _, errs = await attempt(run())
        return DeletedPayload(deleted_id=None if errs else id, errors=errs)

    @mutation(description="Like a post (liking twice is a no-op).")
    async def like_post(
        self, info: GatewayInfo, post_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> LikePayload:
        return await _like(info, post_id, like=True)

    @mutation(description="Take a like back (a no-op if not liked).")
    async def unlike_post(
        self, info: GatewayInfo, post_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> LikePayload:
        return await _like(info, post_id, like=False)

    @mutation(description="Comment on a post, or reply to a top-level comment.")
    async def add_comment(
        self,
        info: GatewayInfo,
        post_id: strawberry.ID,
        body: str,
        parent_id: strawberry.ID | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> CommentPayload:
        ctx = info.context

        async def run() -> DomainComment:
            require_viewer(info)
            target = relay.from_global_id(post_id, expected="Post", field="postId")
            parent = (
                relay.from_global_id(parent_id, expected="Comment", field="parentId")
                if parent_id is not None
                else None
            )
            return await ctx.services.content.add_comment(
                ctx.actor, target, body=body, parent_id=parent, idempotency_key=idempotency_key
            )

        comment, errs = await attempt(run())
        return CommentPayload(comment=await hydrate.comment(info, comment), errors=errs)

    @mutation(description="Delete a comment (its author or the post's author).")
    async def delete_comment(
        self,
        info: GatewayInfo,
        id: strawberry.ID,  # GraphQL argument name
        idempotency_key: IdempotencyKey = None,
    ) -> DeletedPayload:
        ctx = info.context

        async def run() -> None:
            require_viewer(info)
            target = relay.from_global_id(id, expected="Comment")
            await ctx.services.content.delete_comment(ctx.actor, target)

        _, errs = await attempt(run())
        return DeletedPayload(deleted_id=None if errs else id, errors=errs)


async def _like(info: GatewayInfo, post_id: strawberry.ID, *, like: bool) -> LikePayload:
    ctx = info.context

    async def run() -> tuple[uuid.UUID, bool, int]:
        require_viewer(info)
        target = relay.from_global_id(post_id, expected="Post", field="postId")
        call = ctx.services.content.like if like else ctx.services.content.unlike
        state = await call(ctx.actor, target)
        return target, state.liked, state.like_count

    result, errs = await attempt(run())
    if result is None:
        return LikePayload(errors=errs)
    target, liked, count = result
    return LikePayload(post=await _post_payload(info, target), liked=liked, like_count=count)
