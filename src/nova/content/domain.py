"""Content: posts, comments and likes, and the rules that decide who sees what. Stdlib only.

Visibility, in one table (``blocked`` means either user blocks the other)::

    visibility   author   approved follower   anyone else   blocked either way
    public       yes      yes                 yes           no
    followers    yes      yes                 no            no
    private      yes      no                  no            no

An invisible post is reported as *not found*, never as *forbidden*, so its existence leaks
nothing.

Example:
    >>> check_post_body("hello", has_media=False)
    'hello'
    >>> decode_cursor(encode_cursor(uuid.UUID(int=7))) == uuid.UUID(int=7)
    True
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import uuid
from typing import Generic, TypeVar

from nova.platform import errors

__all__ = [
    "COMMENT_MAX_CHARS",
    "MAX_MEDIA_PER_POST",
    "MAX_PAGE_SIZE",
    "POST_MAX_CHARS",
    "Comment",
    "ContentEvent",
    "LikeState",
    "Page",
    "Post",
    "Visibility",
    "can_view",
    "check_comment_body",
    "check_limit",
    "check_media_ids",
    "check_post_body",
    "check_visibility",
    "decode_cursor",
    "encode_cursor",
    "visible_visibilities",
]

#: Longest post body, in characters (the schema's CHECK agrees).
POST_MAX_CHARS = 5_000
#: Longest comment body, in characters (the schema's CHECK agrees).
COMMENT_MAX_CHARS = 2_000
#: Most media attachments on one post.
MAX_MEDIA_PER_POST = 10
#: Largest page any listing returns.
MAX_PAGE_SIZE = 100

T = TypeVar("T")


class Visibility(enum.StrEnum):
    """Who may see a post."""

    PUBLIC = "public"
    FOLLOWERS = "followers"
    PRIVATE = "private"


class ContentEvent(enum.StrEnum):
    """Event types the content service writes to the outbox (past tense)."""

    POST_PUBLISHED = "PostPublished"
    POST_EDITED = "PostEdited"
    POST_DELETED = "PostDeleted"
    COMMENTED = "Commented"
    COMMENT_DELETED = "CommentDeleted"
    LIKED = "Liked"
    UNLIKED = "Unliked"


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """A live post as a viewer may see it."""

    id: uuid.UUID
    tenant_id: str
    author_id: uuid.UUID
    body: str
    visibility: Visibility
    media_ids: tuple[uuid.UUID, ...]
    like_count: int
    comment_count: int
    version: int
    created_at: dt.datetime
    edited_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class Comment:
    """A live comment; ``parent_id`` is set on replies (one level deep)."""

    id: uuid.UUID
    tenant_id: str
    post_id: uuid.UUID
    author_id: uuid.UUID
    parent_id: uuid.UUID | None
    body: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class LikeState:
    """The outcome of a like or unlike: whether the viewer now likes the post, and the count."""

    post_id: uuid.UUID
    liked: bool
    like_count: int
    changed: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset listing; pass ``next_cursor`` back as ``after`` for the next."""

    items: list[T]
    next_cursor: str | None


def can_view(
    post: Post, *, viewer_id: uuid.UUID | None, follows_author: bool, blocked: bool
) -> bool:
    """Whether ``viewer_id`` may see ``post`` (see the table in the module docstring).

    Args:
        post: The post.
        viewer_id: The viewer, or None for an anonymous caller.
        follows_author: The viewer is an approved follower of the author.
        blocked: Either user blocks the other.
    """
    if viewer_id is not None and viewer_id == post.author_id:
        return True
    if blocked:
        return False
    if post.visibility is Visibility.PUBLIC:
        return True
    return post.visibility is Visibility.FOLLOWERS and follows_author


def visible_visibilities(*, is_author: bool, follows_author: bool) -> tuple[Visibility, ...]:
    """The visibilities of one author's posts a viewer may list (blocks are checked apart)."""
    if is_author:
        return tuple(Visibility)
    if follows_author:
        return (Visibility.PUBLIC, Visibility.FOLLOWERS)
    return (Visibility.PUBLIC,)


def check_post_body(body: str, *, has_media: bool) -> str:
    """Validate a post body and return it with surrounding whitespace removed.

    Raises:
        errors.InvalidInputError: empty without media, or longer than :data:`POST_MAX_CHARS`.
    """
    text = body.strip()
    if not text and not has_media:
        raise errors.InvalidInputError(
            "A post needs a body or at least one media attachment.", field="body"
        )
    if len(text) > POST_MAX_CHARS:
        raise errors.InvalidInputError(
            f"A post body is at most {POST_MAX_CHARS} characters (got {len(text)}); shorten it.",
            field="body",
        )
    return text


def check_comment_body(body: str) -> str:
    """Validate a comment body and return it stripped.

    Raises:
        errors.InvalidInputError: empty, or longer than :data:`COMMENT_MAX_CHARS`.
    """
    text = body.strip()
    if not text:
        raise errors.InvalidInputError("A comment cannot be empty.", field="body")
    if len(text) > COMMENT_MAX_CHARS:
        raise errors.InvalidInputError(
            f"A comment is at most {COMMENT_MAX_CHARS} characters (got {len(text)}).",
            field="body",
        )
    return text


def check_visibility(value: str | Visibility) -> Visibility:
    """Parse a visibility.

    Raises:
        errors.InvalidInputError: not one of public, followers, private.
    """
    try:
        return Visibility(value)
    except ValueError as exc:
        raise errors.InvalidInputError(
            f"Visibility must be one of {', '.join(Visibility)} (got {value!r}).",
            field="visibility",
        ) from exc


def check_media_ids(media_ids: tuple[uuid.UUID, ...] | list[uuid.UUID]) -> tuple[uuid.UUID, ...]:
    """Deduplicate media ids, keeping their order, and bound their number.

    Raises:
        errors.InvalidInputError: more than :data:`MAX_MEDIA_PER_POST` attachments.
    """
    unique = tuple(dict.fromkeys(media_ids))
    if len(unique) > MAX_MEDIA_PER_POST:
        raise errors.InvalidInputError(
            f"A post carries at most {MAX_MEDIA_PER_POST} media attachments.", field="mediaIds"
        )
    return unique


def check_limit(limit: int, *, maximum: int = MAX_PAGE_SIZE) -> int:
    """Validate a page size.

    Raises:
        errors.InvalidInputError: below 1 or above ``maximum``.
    """
    if not 1 <= limit <= maximum:
        raise errors.InvalidInputError(
            f"limit must be between 1 and {maximum} (got {limit}).", field="limit"
        )
    return limit


def encode_cursor(last_id: uuid.UUID) -> str:
    """An opaque cursor pointing just past ``last_id``."""
    return base64.urlsafe_b64encode(last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, *, field: str = "after") -> uuid.UUID | None:
    """The id inside a cursor from :func:`encode_cursor`; None for no cursor.

    Raises:
        errors.InvalidInputError: the cursor was not produced by :func:`encode_cursor`.
    """
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidInputError(
            "The cursor is invalid; pass back the nextCursor of a previous page.", field=field
        ) from exc
