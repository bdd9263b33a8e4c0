"""The content client over gRPC: the same protocol as :class:`~nova.content.client.ContentClient`.

Reads, likes and unlikes (idempotent by design) and publishes carrying an idempotency key are
retried on ``UNAVAILABLE`` within the retry budget; other mutations are not, so a retry can
never duplicate an effect. ``get_posts`` and ``liked_by_viewer`` of concurrent requests are
coalesced into one RPC per (tenant, viewer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message

from nova.content import wire
from nova.content.domain import Visibility
from nova.pb import content_pb2 as pb
from nova.platform.rpc import Hydrator
from nova.platform.rpc.wire import uid

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from nova.content.domain import Comment, LikeState, Page, Post
    from nova.platform.context import Actor
    from nova.platform.rpc import RpcTarget

__all__ = ["GrpcContentClient"]

R = TypeVar("R", bound=Message)
_Scope = tuple[str, "uuid.UUID | None"]


class GrpcContentClient:
    """:class:`~nova.content.client.ContentClient` over gRPC.

    Args:
        target: The content service.
        window: Seconds to coalesce hydration lookups.
        max_batch: Keys that send a coalesced lookup at once.
    """

    def __init__(self, target: RpcTarget, *, window: float = 0.002, max_batch: int = 128) -> None:
        self.target = target
        self.posts_batches: Hydrator[_Scope, uuid.UUID, Post] = Hydrator(
            self._load_posts, window=window, max_batch=max_batch, name="posts"
        )
        self.likes_batches: Hydrator[_Scope, uuid.UUID, bool] = Hydrator(
            self._load_likes, window=window, max_batch=max_batch, name="likes"
        )

    async def _call(
        self, actor: Actor, method: str, request: Message, reply: type[R], *, idempotent: bool
    ) -> R:
        return await self.target.call(method, request, reply, actor, idempotent=idempotent)

    # -- hydration, coalesced per (tenant, viewer): visibility and like state depend on both --

    async def get_posts(self, actor: Actor, post_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Post]:
        """See :meth:`~nova.content.client.ContentClient.get_posts`."""
        return await self.posts_batches.get_many(actor, (actor.tenant_id, actor.user_id), post_ids)

    async def _load_posts(
        self, actor: Actor, _scope: _Scope, post_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Post]:
        request = pb.PostIdsRequest(post_ids=[str(i) for i in post_ids])
        reply = await self._call(actor, "GetPosts", request, pb.PostsById, idempotent=True)
        return {uid(k, field="postIds"): wire.post_from_pb(v) for k, v in reply.posts.items()}

    async def liked_by_viewer(
        self, actor: Actor, post_ids: Sequence[uuid.UUID]
    ) -> frozenset[uuid.UUID]:
        """See :meth:`~nova.content.client.ContentClient.liked_by_viewer`."""
        if actor.user_id is None:
            return frozenset()  # an anonymous viewer likes nothing; no call needed
        found = await self.likes_batches.get_many(actor, (actor.tenant_id, actor.user_id), post_ids)
        return frozenset(post_id for post_id, liked in found.items() if liked)

    async def _load_likes(
        self, actor: Actor, _scope: _Scope, post_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, bool]:
        request = pb.PostIdsRequest(post_ids=[str(i) for i in post_ids])
        reply = await self._call(actor, "LikedByViewer", request, pb.PostIds, idempotent=True)
        liked = {uid(i, field="postIds") for i in reply.post_ids}
        # Every asked id gets an answer, so "not liked" is a value, not a missing key.
        return {post_id: post_id in liked for post_id in post_ids}

    # -- reads -----------------------------------------------------------------------------

    async def get_post(self, actor: Actor, post_id: uuid.UUID) -> Post:
        """See :meth:`~nova.content.client.ContentClient.get_post`."""
        request = pb.PostIdRequest(post_id=str(post_id))
        return wire.post_from_pb(
            await self._call(actor, "GetPost", request, pb.Post, idempotent=True)
        )

    async def list_user_posts(
        self, actor: Actor, author_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Post]:
        """See :meth:`~nova.content.client.ContentClient.list_user_posts`."""
        request = pb.ListUserPostsRequest(author_id=str(author_id), after=after, limit=limit)
        reply = await self._call(actor, "ListUserPosts", request, pb.PostPage, idempotent=True)
        return wire.post_page_from_pb(reply)

    async def list_comments(
        self, actor: Actor, post_id: uuid.UUID, *, after: str | None = None, limit: int = 20
    ) -> Page[Comment]:
        """See :meth:`~nova.content.client.ContentClient.list_comments`."""
        request = pb.ListCommentsRequest(post_id=str(post_id), after=after, limit=limit)
        reply = await self._call(actor, "ListComments", request, pb.CommentPage, idempotent=True)
        return wire.comment_page_from_pb(reply)

    async def comment_count(self, actor: Actor, post_id: uuid.UUID) -> int:
        """See :meth:`~nova.content.client.ContentClient.comment_count`."""
        request = pb.PostIdRequest(post_id=str(post_id))
        reply = await self._call(actor, "CommentCount", request, pb.Count, idempotent=True)
        return reply.count

    # -- mutations -------------------------------------------------------------------------

    async def publish_post(
        self,
        actor: Actor,
        *,
        body: str,
        visibility: str | Visibility = Visibility.PUBLIC,
        media_ids: Sequence[uuid.UUID] = (),
        idempotency_key: str | None = None,
    ) -> Post:
        """See :meth:`~nova.content.client.ContentClient.publish_post`.

        Retried only with an idempotency key: the service then returns the same post.
        """
        request = pb.PublishPostRequest(
            body=body,
            visibility=str(visibility),
            media_ids=[str(m) for m in media_ids],
            idempotency_key=idempotency_key,
        )
        reply = await self._call(
            actor, "PublishPost", request, pb.Post, idempotent=idempotency_key is not None
        )
        return wire.post_from_pb(reply)

    async def edit_post(
        self,
        actor: Actor,
        post_id: uuid.UUID,
        *,
        body: str,
        visibility: str | Visibility | None = None,
    ) -> Post:
        """See :meth:`~nova.content.client.ContentClient.edit_post`."""
        request = pb.EditPostRequest(
            post_id=str(post_id),
            body=body,
            visibility=str(visibility) if visibility is not None else None,
        )
        return wire.post_from_pb(
            await self._call(actor, "EditPost", request, pb.Post, idempotent=False)
        )

    async def delete_post(self, actor: Actor, post_id: uuid.UUID) -> None:
        """See :meth:`~nova.content.client.ContentClient.delete_post`."""
        request = pb.PostIdRequest(post_id=str(post_id))
        await self._call(actor, "DeletePost", request, Empty, idempotent=False)

    async def add_comment(
        self,
        actor: Actor,
        post_id: uuid.UUID,
        *,
        body: str,
        parent_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
    ) -> Comment:
        """See :meth:`~nova.content.client.ContentClient.add_comment` (retried only with a key)."""
        request = pb.AddCommentRequest(
            post_id=str(post_id),
            body=body,
            parent_id=str(parent_id) if parent_id is not None else None,
            idempotency_key=idempotency_key,
        )
        reply = await self._call(
            actor, "AddComment", request, pb.Comment, idempotent=idempotency_key is not None
        )
        return wire.comment_from_pb(reply)

    async def delete_comment(self, actor: Actor, comment_id: uuid.UUID) -> None:
        """See :meth:`~nova.content.client.ContentClient.delete_comment`."""
        request = pb.CommentIdRequest(comment_id=str(comment_id))
        await self._call(actor, "DeleteComment", request, Empty, idempotent=False)

    async def like(self, actor: Actor, post_id: uuid.UUID) -> LikeState:
        """See :meth:`~nova.content.client.ContentClient.like` (idempotent: retried)."""
        request = pb.PostIdRequest(post_id=str(post_id))
        return wire.like_from_pb(
            await self._call(actor, "Like", request, pb.LikeState, idempotent=True)
        )

    async def unlike(self, actor: Actor, post_id: uuid.UUID) -> LikeState:
        """See :meth:`~nova.content.client.ContentClient.unlike` (idempotent: retried)."""
        request = pb.PostIdRequest(post_id=str(post_id))
        return wire.like_from_pb(
            await self._call(actor, "Unlike", request, pb.LikeState, idempotent=True)
        )
