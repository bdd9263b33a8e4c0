"""The Nova error tree: every expected failure is a :class:`NovaError` with a code.

::

    NovaError                       code            http  retryable
    ├── InvalidInputError           INVALID_INPUT   400
    ├── UnauthenticatedError        UNAUTHENTICATED 401
    ├── PermissionDeniedError       FORBIDDEN       403
    ├── NotFoundError               NOT_FOUND       404
    ├── ConflictError               CONFLICT        409
    │   └── AlreadyExistsError      ALREADY_EXISTS  409
    ├── RateLimitedError            RATE_LIMITED    429   yes
    ├── UnavailableError            UNAVAILABLE     503   yes
    │   └── PoolExhaustedError      POOL_EXHAUSTED  503   yes
    └── ConfigurationError          CONFIGURATION   500   (start-up only; never reaches a client)

Subclasses may narrow ``code`` (for example ``USERNAME_TAKEN``) but keep the status of their
branch. Errors carry structured fields (``field``, ``details``) that travel to clients as data;
the message says what happened and what to do, and never contains SQL or a stack trace.

Example:
    >>> err = NotFoundError("post not found", field="postId")
    >>> (err.code, err.http_status, err.retryable)
    (<ErrorCode.NOT_FOUND: 'NOT_FOUND'>, 404, False)
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

__all__ = [
    "AlreadyExistsError",
    "ConfigurationError",
    "ConflictError",
    "ErrorCode",
    "InvalidInputError",
    "NotFoundError",
    "NovaError",
    "PermissionDeniedError",
    "PoolExhaustedError",
    "RateLimitedError",
    "UnauthenticatedError",
    "UnavailableError",
]


class ErrorCode(enum.StrEnum):
    """Machine-readable codes; clients switch on these, never on messages."""

    INVALID_INPUT = "INVALID_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    SELF_ACTION = "SELF_ACTION"
    BLOCKED = "BLOCKED"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    POOL_EXHAUSTED = "POOL_EXHAUSTED"
    CONFIGURATION = "CONFIGURATION"
    INTERNAL = "INTERNAL"


class NovaError(Exception):
    """Root of every expected Nova failure.

    Args:
        message: What happened and what to do about it; safe to show to a client.
        field: The input field at fault, when there is one.
        code: Narrows the class's default code (for example ``USERNAME_TAKEN``).
        details: Extra structured data for the client.
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: ErrorCode | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = dict(details or {})
        if code is not None:
            # Instance attribute shadows the class default on purpose: a leaf may narrow it.
            self.code = code  # type: ignore[misc]  # ClassVar narrowed per instance by design

    def as_dict(self) -> dict[str, Any]:
        """The client-visible shape: ``{"code", "message", "field", "retryable", **details}``."""
        data: dict[str, Any] = {
            "code": str(self.code),
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.field is not None:
            data["field"] = self.field
        data.update(self.details)
        return data


class InvalidInputError(NovaError):
    """The request is malformed or breaks a validation rule."""

    code = ErrorCode.INVALID_INPUT
    http_status = 400


class UnauthenticatedError(NovaError):
    """No valid credentials: missing, expired, revoked or forged token, or a wrong password."""

    code = ErrorCode.UNAUTHENTICATED
    http_status = 401


class PermissionDeniedError(NovaError):
    """The caller is known but may not do this (blocked, not the author, not a follower)."""

    code = ErrorCode.FORBIDDEN
    http_status = 403


class NotFoundError(NovaError):
    """The entity does not exist, or the caller may not know that it does."""

    code = ErrorCode.NOT_FOUND
    http_status = 404


class ConflictError(NovaError):
    """The request conflicts with the current state."""

    code = ErrorCode.CONFLICT
    http_status = 409


class AlreadyExistsError(ConflictError):
    """A unique value (username, email, idempotency key) is already taken."""

    code = ErrorCode.ALREADY_EXISTS


class RateLimitedError(NovaError):
    """Too many requests; retry after ``retry_after`` seconds."""

    code = ErrorCode.RATE_LIMITED
    http_status = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field, details={"retryAfter": round(retry_after, 3)})
        self.retry_after = retry_after


class UnavailableError(NovaError):
    """A dependency is down or overloaded; the request may be retried later."""

    code = ErrorCode.UNAVAILABLE
    http_status = 503
    retryable = True

    def __init__(
        self, message: str, *, retry_after: float = 1.0, dependency: str | None = None
    ) -> None:
        details: dict[str, Any] = {"retryAfter": retry_after}
        if dependency is not None:
            details["dependency"] = dependency
        super().__init__(message, details=details)
        self.retry_after = retry_after
        self.dependency = dependency


class PoolExhaustedError(UnavailableError):
    """A connection pool is saturated; the request was rejected early instead of queueing."""

    code = ErrorCode.POOL_EXHAUSTED


class ConfigurationError(NovaError):
    """A setting is invalid or names something unreachable. Raised at start-up only."""

    code = ErrorCode.CONFIGURATION

    def __init__(self, *, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}", field=setting)
        self.setting = setting
        self.reason = reason
