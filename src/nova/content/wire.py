"""Content domain values <-> protobuf messages (``nova.pb.content_pb2``), used by both sides."""

from __future__ import annotations

from nova.content.domain import Comment, LikeState, Page, Post, Visibility
from nova.pb import content_pb2 as pb
from nova.platform.rpc.wire import from_timestamp, timestamp, uid, uids

__all__ = [
    "comment_from_pb",
    "comment_page_from_pb",
    "comment_page_to_pb",
    "comment_to_pb",
    "like_from_pb",
    "like_to_pb",
    "post_from_pb",
    "post_page_from_pb",
    "post_page_to_pb",
    "post_to_pb",
]


def post_to_pb(post: Post) -> pb.Post:
    """The message of ``post``."""
    message = pb.Post(
        id=str(post.id),
        tenant_id=post.tenant_id,
        author_id=str(post.author_id),
        body=post.body,
        visibility=str(post.visibility),
        media_ids=[str(m) for m in post.media_ids],
        like_count=post.like_count,
        comment_count=post.comment_count,
        version=post.version,
        created_at=timestamp(post.created_at),
    )
    if post.edited_at is not None:
        message.edited_at.CopyFrom(timestamp(post.edited_at))
    return message


def post_from_pb(message: pb.Post) -> Post:
    """The post in ``message``."""
    return Post(
        id=uid(message.id, field="id"),
        tenant_id=message.tenant_id,
        author_id=uid(message.author_id, field="authorId"),
        body=message.body,
        visibility=Visibility(message.visibility),
        media_ids=tuple(uids(message.media_ids, field="mediaIds")),
        like_count=message.like_count,
        comment_count=message.comment_count,
        version=message.version,
        created_at=from_timestamp(message.created_at),
        edited_at=from_timestamp(message.edited_at) if message.HasField("edited_at") else None,
    )


def comment_to_pb(comment: Comment) -> pb.Comment:
    """The message of ``comment``."""
    return pb.Comment(
        id=str(comment.id),
        tenant_id=comment.tenant_id,
        post_id=str(comment.post_id),
        author_id=str(comment.author_id),
        parent_id=str(comment.parent_id) if comment.parent_id is not None else None,
        body=comment.body,
        created_at=timestamp(comment.created_at),
    )


def comment_from_pb(message: pb.Comment) -> Comment:
    """The comment in ``message``."""
    return Comment(
        id=uid(message.id, field="id"),
        tenant_id=message.tenant_id,
        post_id=uid(message.post_id, field="postId"),
        author_id=uid(message.author_id, field="authorId"),
        parent_id=uid(message.parent_id, field="parentId")
        if message.HasField("parent_id")
        else None,
        body=message.body,
        created_at=from_timestamp(message.created_at),
    )


def like_to_pb(state: LikeState) -> pb.LikeState:
    """The message of ``state``."""
    return pb.LikeState(
        post_id=str(state.post_id),
        liked=state.liked,
        like_count=state.like_count,
        changed=state.changed,
    )


def like_from_pb(message: pb.LikeState) -> LikeState:
    """The like state in ``message``."""
    return LikeState(
        post_id=uid(message.post_id, field="postId"),
        liked=message.liked,
        like_count=message.like_count,
        changed=message.changed,
    )


def post_page_to_pb(page: Page[Post]) -> pb.PostPage:
    """The message of a page of posts."""
    return pb.PostPage(items=[post_to_pb(p) for p in page.items], next_cursor=page.next_cursor)


def post_page_from_pb(message: pb.PostPage) -> Page[Post]:
    """The page of posts in ``message``."""
    return Page(
        items=[post_from_pb(p) for p in message.items],
        next_cursor=message.next_cursor if message.HasField("next_cursor") else None,
    )


def comment_page_to_pb(page: Page[Comment]) -> pb.CommentPage:
    """The message of a page of comments."""
    return pb.CommentPage(
        items=[comment_to_pb(c) for c in page.items], next_cursor=page.next_cursor
    )


def comment_page_from_pb(message: pb.CommentPage) -> Page[Comment]:
    """The page of comments in ``message``."""
    return Page(
        items=[comment_from_pb(c) for c in message.items],
        next_cursor=message.next_cursor if message.HasField("next_cursor") else None,
    )
