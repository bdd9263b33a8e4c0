"""Users: accounts, profiles, the social graph and its rules. Pure: stdlib only.

Everything here is a value or a decision. Validation functions return the normalized value or
raise :class:`~nova.platform.errors.InvalidInputError` naming the field (the error tree is plain
Python, so the domain may raise it). Decisions (:func:`decide_follow`) take the facts the store
read and say what the service must do.

Example:
    >>> check_username(" Ada_L ")
    'Ada_L'
    >>> decide_follow(blocked=False, following=False, requested=False, target_private=True)
    <FollowDecision.REQUEST: 'request'>
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
import uuid
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_FOLLOWING",
    "AccessClaims",
    "CommentAudience",
    "FeedMode",
    "FollowDecision",
    "FollowState",
    "Page",
    "Preferences",
    "Relation",
    "TokenPair",
    "Unset",
    "User",
    "check_bio",
    "check_display_name",
    "check_email",
    "check_limit",
    "check_not_self",
    "check_password",
    "check_preference_changes",
    "check_username",
    "decide_follow",
    "search_prefix",
]

T = TypeVar("T")

#: Most accounts one user may follow; bounds ``followee_ids`` and home-feed fan-in.
MAX_FOLLOWING: Final = 7_500

_USERNAME = re.compile(r"[A-Za-z0-9_]{3,30}")
# Deliberately loose: one "@", no spaces, a dot in the domain. Deliverability is proven by a
# confirmation mail, never by a regex.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_PASSWORD_MIN = 10
# argon2 hashes any length, but an unbounded password is a cheap CPU-exhaustion vector.
_PASSWORD_MAX = 1024


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A user's public profile and counters."""

    id: uuid.UUID
    tenant_id: str
    username: str
    display_name: str
    bio: str
    avatar_media_id: uuid.UUID | None
    is_private: bool
    follower_count: int
    following_count: int
    post_count: int
    created_at: dt.datetime
    last_active_at: dt.datetime | None


class FollowState(enum.StrEnum):
    """Where the viewer stands towards another user."""

    NONE = "none"
    REQUESTED = "requested"
    FOLLOWING = "following"


@dataclasses.dataclass(frozen=True, slots=True)
class Relation:
    """The viewer's relation to one other user, as authorization needs it."""

    follow: FollowState
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool

    @property
    def blocked_either_way(self) -> bool:
        """True when either user blocks the other: they are invisible to each other."""
        return self.blocking or self.blocked_by


@dataclasses.dataclass(frozen=True, slots=True)
class TokenPair:
    """What a successful login or refresh returns to the app.

    Attributes:
        access_token: Short-lived JWT for the ``Authorization: Bearer`` header.
        refresh_token: Opaque single-use token that buys the next pair.
        expires_in: Seconds until ``access_token`` expires.
    """

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105  # the OAuth token type, not a secret


@dataclasses.dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified content of an access token: enough to build an ``Actor``."""

    user_id: uuid.UUID
    tenant_id: str
    token_id: str
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list; ``next_cursor`` is None on the last page."""

    items: list[T]
    next_cursor: str | None


class Unset(enum.Enum):
    """Marks an optional argument the caller did not pass (``None`` may be a real value)."""

    UNSET = "UNSET"


class FollowDecision(enum.StrEnum):
    """What a follow request turns into."""

    FOLLOW = "follow"
    REQUEST = "request"
    ALREADY_FOLLOWING = "already_following"
    ALREADY_REQUESTED = "already_requested"


def decide_follow(
    *, blocked: bool, following: bool, requested: bool, target_private: bool
) -> FollowDecision:
    """Decide what following a user does, given the current facts about the pair.

    Raises:
        errors.PermissionDeniedError: ``BLOCKED`` when either user blocks the other. The message
            is the same whichever side blocked, so it reveals nothing.
    """
    if blocked:
        raise errors.PermissionDeniedError(
            "You can't follow this account.", code=errors.ErrorCode.BLOCKED
        )
    if following:
        return FollowDecision.ALREADY_FOLLOWING
    if target_private:
        return FollowDecision.ALREADY_REQUESTED if requested else FollowDecision.REQUEST
    # A request left pending when the target went public becomes a follow (the service
    # removes the stale request).
    return FollowDecision.FOLLOW


def check_not_self(actor_id: uuid.UUID, target_id: uuid.UUID, *, action: str) -> None:
    """Refuse ``action`` (follow, block, mute) aimed at oneself.

    Raises:
        errors.InvalidInputError: ``SELF_ACTION``.
    """
    if actor_id == target_id:
        raise errors.InvalidInputError(
            f"You can't {action} yourself.", field="userId", code=errors.ErrorCode.SELF_ACTION
        )


def check_username(value: str) -> str:
    """A username of 3-30 letters, digits or underscores, surrounding spaces removed."""
    username = value.strip()
    if not _USERNAME.fullmatch(username):
        raise errors.InvalidInputError(
            "A username has 3 to 30 characters: letters, digits and underscores.",
            field="username",
        )
    return username


def check_email(value: str) -> str:
    """An address shaped like ``name@domain.tld`` (at most 254 characters), trimmed."""
    email = value.strip()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise errors.InvalidInputError(
            "Enter an email address like name@example.com.", field="email"
        )
    return email


def check_password(value: str) -> str:
    """A password of at least 10 (at most 1024) characters; returned unchanged."""
    if len(value) < _PASSWORD_MIN:
        raise errors.InvalidInputError(
            f"Choose a password of at least {_PASSWORD_MIN} characters.", field="password"
        )
    if len(value) > _PASSWORD_MAX:
        raise errors.InvalidInputError(
            f"A password may have at most {_PASSWORD_MAX} characters.", field="password"
        )
    return value


def _check_text(value: str, *, field: str, maximum: int) -> str:
    text = value.strip()
    if len(text) > maximum:
        raise errors.InvalidInputError(f"Use at most {maximum} characters.", field=field)
    if any(0xD800 <= ord(c) <= 0xDFFF or c == "\x00" for c in text):
        # Lone surrogates and NUL cannot be stored in PostgreSQL text or encoded as JSON.
        raise errors.InvalidInputError("The text contains invalid characters.", field=field)
    return text


def check_display_name(value: str) -> str:
    """A display name of at most 100 characters, trimmed."""
    return _check_text(value, field="displayName", maximum=100)


def check_bio(value: str) -> str:
    """A bio of at most 500 characters, trimmed."""
    return _check_text(value, field="bio", maximum=500)


def check_limit(limit: int, *, maximum: int) -> int:
    """A page size between 1 and ``maximum``."""
    if not 1 <= limit <= maximum:
        raise errors.InvalidInputError(f"limit must be between 1 and {maximum}.", field="limit")
    return limit


def search_prefix(value: str) -> str | None:
    """The lower-cased username prefix to search for, or None when nothing can match.

    A leading ``@`` is dropped (people type handles that way). Characters no username can
    contain mean no result rather than an error, so a search box never shows one.
    """
    prefix = value.strip().removeprefix("@").lower()
    if not prefix or len(prefix) > 30 or not re.fullmatch(r"[a-z0-9_]+", prefix):
        return None
    return prefix


class FeedMode(enum.StrEnum):
    """How the home feed is ordered."""

    CHRONOLOGICAL = "chronological"
    RECOMMENDED = "recommended"


class CommentAudience(enum.StrEnum):
    """Who may comment on the user's posts."""

    EVERYONE = "everyone"
    FOLLOWERS = "followers"
    NOBODY = "nobody"


@dataclasses.dataclass(frozen=True, slots=True)
class Preferences:
    """A user's settings, defaults filled in for keys never set.

    Attributes:
        feed_mode: Home feed ordering.
        who_can_comment: Who may comment on the user's posts.
        show_sensitive_media: Whether media flagged sensitive is shown unblurred.
        notify_on_follow: Whether a new follower triggers a notification.
    """

    feed_mode: FeedMode = FeedMode.RECOMMENDED
    who_can_comment: CommentAudience = CommentAudience.EVERYONE
    show_sensitive_media: bool = False
    notify_on_follow: bool = True

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Preferences:
        """Rebuild from stored overrides, ignoring keys or values a newer version wrote."""
        values: dict[str, Any] = {}
        for key, raw in data.items():
            try:
                values[key] = _PREFERENCE_PARSERS[key](raw)
            except (KeyError, TypeError, ValueError):
                continue
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape, as stored and as sent to clients."""
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _to_json(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def _parse_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


_PREFERENCE_PARSERS: Final[dict[str, Any]] = {
    "feed_mode": FeedMode,
    "who_can_comment": CommentAudience,
    "show_sensitive_media": _parse_bool,
    "notify_on_follow": _parse_bool,
}


def check_preference_changes(changes: Mapping[str, object]) -> dict[str, Any]:
    """Validate a partial preferences update; return the normalized JSON overrides.

    Raises:
        errors.InvalidInputError: an unknown key, or a value outside the key's choices; ``field``
            names the key.
    """
    if not changes:
        raise errors.InvalidInputError("Change at least one preference.", field="preferences")
    normalized: dict[str, Any] = {}
    for key, raw in changes.items():
        parser = _PREFERENCE_PARSERS.get(key)
        if parser is None:
            known = ", ".join(sorted(_PREFERENCE_PARSERS))
            raise errors.InvalidInputError(
                f"Unknown preference {key!r}; known preferences: {known}.", field=key
            )
        try:
            normalized[key] = _to_json(parser(raw))
        except (TypeError, ValueError) as exc:
            raise errors.InvalidInputError(
                f"{raw!r} is not a valid value for {key}.", field=key
            ) from exc
    return normalized
