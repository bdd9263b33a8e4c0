"""The content gRPC servicer: parse the message, call one use case, return its message.

Errors need no code here: :mod:`nova.platform.rpc.server` maps every
:class:`~nova.platform.errors.NovaError` to its status and trailer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.empty_pb2 import Empty

from nova.content import wire
from nova.pb import content_pb2 as pb
from nova.platform.rpc import Method, ServiceDef
from nova.platform.rpc.wire import uid, uids

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from nova.content.client import LocalContentClient
    from nova.platform.context import Actor

__all__ = ["SERVICE_NAME", "service_def"]

#: Full gRPC name of the content service.
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ContentService"].full_name


def _opt(message: Message, name: str) -> str | None:
    """An optional string field: None when absent (proto3 ``optional`` has presence)."""
    return str(getattr(message, name)) if message.HasField(name) else None


class _Servicer:
    """One handler per RPC, each calling one use case of the content service."""

    def __init__(self, svc: LocalContentClient) -> None:
        self._svc = svc

    async def publish_post(self, actor: Actor, req: pb.PublishPostRequest) -> pb.Post:
        post = await self._svc.publish_post(
            actor,
            body=req.body,
            visibility=req.visibility,
            media_ids=uids(req.media_ids, field="mediaIds"),
            idempotency_key=_opt(req, "idempotency_key"),
        )
        return wire.post_to_pb(post)

    async def edit_post(self, actor: Actor, req: pb.EditPostRequest) -> pb.Post:
        post = await self._svc.edit_post(
            actor,
            uid(req.post_id, field="postId"),
            body=req.body,
            visibility=_opt(req, "visibility"),
        )
        return wire.post_to_pb(post)

    async def delete_post(self, actor: Actor, req: pb.PostIdRequest) -> Empty:
        await self._svc.delete_post(actor, uid(req.post_id, field="postId"))
        return Empty()

    async def get_post(self, actor: Actor, req: pb.PostIdRequest) -> pb.Post:
        return wire.post_to_pb(await self._svc.get_post(actor, uid(req.post_id, field="postId")))

    async def get_posts(self, actor: Actor, req: pb.PostIdsRequest) -> pb.PostsById:
        posts = await self._svc.get_posts(actor, uids(req.post_ids, field="postIds"))
        return pb.PostsById(posts={str(k): wire.post_to_pb(v) for k, v in posts.items()})

    async def liked_by_viewer(self, actor: Actor, req: pb.PostIdsRequest) -> pb.PostIds:
        liked = await self._svc.liked_by_viewer(actor, uids(req.post_ids, field="postIds"))
        return pb.PostIds(post_ids=sorted(str(i) for i in liked))

    async def list_user_posts(self, actor: Actor, req: pb.ListUserPostsRequest) -> pb.PostPage:
        page = await self._svc.list_user_posts(
            actor, uid(req.author_id, field="authorId"), after=_opt(req, "after"), limit=req.limit
        )
        return wire.post_page_to_pb(page)

    async def add_comment(self, actor: Actor, req: pb.AddCommentRequest) -> pb.Comment:
        parent = _opt(req, "parent_id")
        comment = await self._svc.add_comment(
            actor,
            uid(req.post_id, field="postId"),
            body=req.body,
            parent_id=uid(parent, field="parentId") if parent else None,
            idempotency_key=_opt(req, "idempotency_key"),
        )
        return wire.comment_to_pb(comment)

    async def delete_comment(self, actor: Actor, req: pb.CommentIdRequest) -> Empty:
        await self._svc.delete_comment(actor, uid(req.comment_id, field="commentId"))
        return Empty()

    async def list_comments(self, actor: Actor, req: pb.ListCommentsRequest) -> pb.CommentPage:
        page = await self._svc.list_comments(
            actor, uid(req.post_id, field="postId"), after=_opt(req, "after"), limit=req.limit
        )
        return wire.comment_page_to_pb(page)

    async def comment_count(self, actor: Actor, req: pb.PostIdRequest) -> pb.Count:
        count = await self._svc.comment_count(actor, uid(req.post_id, field="postId"))
        return pb.Count(count=count)

    async def like(self, actor: Actor, req: pb.PostIdRequest) -> pb.LikeState:
        return wire.like_to_pb(await self._svc.like(actor, uid(req.post_id, field="postId")))

    async def unlike(self, actor: Actor, req: pb.PostIdRequest) -> pb.LikeState:
        return wire.like_to_pb(await self._svc.unlike(actor, uid(req.post_id, field="postId")))

    def definition(self) -> ServiceDef:
        """The method table."""
        return ServiceDef(
            SERVICE_NAME,
            [
                Method("PublishPost", pb.PublishPostRequest, self.publish_post),
                Method("EditPost", pb.EditPostRequest, self.edit_post),
                Method("DeletePost", pb.PostIdRequest, self.delete_post),
                Method("GetPost", pb.PostIdRequest, self.get_post),
                Method("GetPosts", pb.PostIdsRequest, self.get_posts),
                Method("LikedByViewer", pb.PostIdsRequest, self.liked_by_viewer),
                Method("ListUserPosts", pb.ListUserPostsRequest, self.list_user_posts),
                Method("AddComment", pb.AddCommentRequest, self.add_comment),
                Method("DeleteComment", pb.CommentIdRequest, self.delete_comment),
                Method("ListComments", pb.ListCommentsRequest, self.list_comments),
                Method("CommentCount", pb.PostIdRequest, self.comment_count),
                Method("Like", pb.PostIdRequest, self.like),
                Method("Unlike", pb.PostIdRequest, self.unlike),
            ],
        )


def service_def(svc: LocalContentClient) -> ServiceDef:
    """The content RPCs, each calling one use case of ``svc``."""
    return _Servicer(svc).definition()
