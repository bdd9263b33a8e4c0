"""Users domain values <-> protobuf messages (``nova.pb.users_pb2``), used by both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.pb import users_pb2 as pb
from nova.platform.rpc.wire import from_timestamp, opt_uid, timestamp, uid
from nova.users.domain import (
    AccessClaims,
    CommentAudience,
    FeedMode,
    FollowState,
    Page,
    Preferences,
    Relation,
    TokenPair,
    User,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "claims_from_pb",
    "claims_to_pb",
    "page_from_pb",
    "page_to_pb",
    "preferences_from_pb",
    "preferences_to_pb",
    "relation_from_pb",
    "relation_to_pb",
    "tokens_from_pb",
    "tokens_to_pb",
    "user_from_pb",
    "user_to_pb",
]


def user_to_pb(user: User) -> pb.User:
    """The message of ``user``."""
    message = pb.User(
        id=str(user.id),
        tenant_id=user.tenant_id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        is_private=user.is_private,
        follower_count=user.follower_count,
        following_count=user.following_count,
        post_count=user.post_count,
        created_at=timestamp(user.created_at),
    )
    if user.avatar_media_id is not None:
        message.avatar_media_id = str(user.avatar_media_id)
    if user.last_active_at is not None:
        message.last_active_at.CopyFrom(timestamp(user.last_active_at))
    return message


def user_from_pb(message: pb.User) -> User:
    """The user in ``message``."""
    return User(
        id=uid(message.id, field="id"),
        tenant_id=message.tenant_id,
        username=message.username,
        display_name=message.display_name,
        bio=message.bio,
        avatar_media_id=opt_uid(
            message.avatar_media_id if message.HasField("avatar_media_id") else None,
            field="avatarMediaId",
        ),
        is_private=message.is_private,
        follower_count=message.follower_count,
        following_count=message.following_count,
        post_count=message.post_count,
        created_at=from_timestamp(message.created_at),
        last_active_at=from_timestamp(message.last_active_at)
        if message.HasField("last_active_at")
        else None,
    )


def relation_to_pb(relation: Relation) -> pb.Relation:
    """The message of ``relation``."""
    return pb.Relation(
        follow=str(relation.follow),
        followed_by=relation.followed_by,
        blocking=relation.blocking,
        blocked_by=relation.blocked_by,
        muting=relation.muting,
    )


def relation_from_pb(message: pb.Relation) -> Relation:
    """The relation in ``message``."""
    return Relation(
        follow=FollowState(message.follow),
        followed_by=message.followed_by,
        blocking=message.blocking,
        blocked_by=message.blocked_by,
        muting=message.muting,
    )


def preferences_to_pb(prefs: Preferences) -> pb.Preferences:
    """The message of ``prefs``."""
    return pb.Preferences(
        feed_mode=str(prefs.feed_mode),
        who_can_comment=str(prefs.who_can_comment),
        show_sensitive_media=prefs.show_sensitive_media,
        notify_on_follow=prefs.notify_on_follow,
    )


def preferences_from_pb(message: pb.Preferences) -> Preferences:
    """The preferences in ``message``."""
    return Preferences(
        feed_mode=FeedMode(message.feed_mode),
        who_can_comment=CommentAudience(message.who_can_comment),
        show_sensitive_media=message.show_sensitive_media,
        notify_on_follow=message.notify_on_follow,
    )


def tokens_to_pb(pair: TokenPair) -> pb.TokenPair:
    """The message of ``pair``."""
    return pb.TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        token_type=pair.token_type,
    )


def tokens_from_pb(message: pb.TokenPair) -> TokenPair:
    """The token pair in ``message``."""
    return TokenPair(
        access_token=message.access_token,
        refresh_token=message.refresh_token,
        expires_in=message.expires_in,
        token_type=message.token_type,
    )


def claims_to_pb(claims: AccessClaims) -> pb.AccessClaims:
    """The message of ``claims``."""
    return pb.AccessClaims(
        user_id=str(claims.user_id),
        tenant_id=claims.tenant_id,
        token_id=claims.token_id,
        expires_at=timestamp(claims.expires_at),
    )


def claims_from_pb(message: pb.AccessClaims) -> AccessClaims:
    """The claims in ``message``."""
    return AccessClaims(
        user_id=uid(message.user_id, field="userId"),
        tenant_id=message.tenant_id,
        token_id=message.token_id,
        expires_at=from_timestamp(message.expires_at),
    )


def page_to_pb(page: Page[User]) -> pb.UserPage:
    """The message of a page of users."""
    message = pb.UserPage(items=_users(page.items))
    if page.next_cursor is not None:
        message.next_cursor = page.next_cursor
    return message


def page_from_pb(message: pb.UserPage) -> Page[User]:
    """The page of users in ``message``."""
    return Page(
        items=[user_from_pb(item) for item in message.items],
        next_cursor=message.next_cursor if message.HasField("next_cursor") else None,
    )


def _users(users: Iterable[User]) -> list[pb.User]:
    return [user_to_pb(user) for user in users]
