"""NovaError <-> gRPC status, without losing the error's class, code, field or message.

The server aborts with the gRPC code of the error's branch and puts the whole error in the
``nova-error-bin`` trailing metadata (JSON: class, code, message, field, details). The
client rebuilds the same :class:`~nova.platform.errors.NovaError` subclass from it. A
failure without that trailer comes from the transport (refused connection, deadline, size
limit) and becomes an :class:`~nova.platform.errors.UnavailableError` naming the target.

Example:
    >>> grpc_code(errors.NotFoundError("no post"))
    <StatusCode.NOT_FOUND: (5, 'not found')>
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import grpc

from nova.platform import errors
from nova.platform.resilience import DeadlineExceededError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ERROR_KEY", "RemoteError", "error_from_status", "error_trailer", "grpc_code"]

#: Trailing-metadata key carrying the serialized NovaError (``-bin``: bytes, any content).
ERROR_KEY = "nova-error-bin"

_BY_CODE: dict[errors.ErrorCode, grpc.StatusCode] = {
    errors.ErrorCode.INVALID_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ErrorCode.SELF_ACTION: grpc.StatusCode.INVALID_ARGUMENT,
    errors.ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    errors.ErrorCode.INVALID_CREDENTIALS: grpc.StatusCode.UNAUTHENTICATED,
    errors.ErrorCode.TOKEN_EXPIRED: grpc.StatusCode.UNAUTHENTICATED,
    errors.ErrorCode.TOKEN_REVOKED: grpc.StatusCode.UNAUTHENTICATED,
    errors.ErrorCode.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    errors.ErrorCode.BLOCKED: grpc.StatusCode.PERMISSION_DENIED,
    errors.ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    errors.ErrorCode.CONFLICT: grpc.StatusCode.ABORTED,
    errors.ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    errors.ErrorCode.USERNAME_TAKEN: grpc.StatusCode.ALREADY_EXISTS,
    errors.ErrorCode.EMAIL_TAKEN: grpc.StatusCode.ALREADY_EXISTS,
    errors.ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    errors.ErrorCode.POOL_EXHAUSTED: grpc.StatusCode.UNAVAILABLE,
}

# The branch decides the status when a leaf narrows ``code`` to one not listed above.
_BY_BRANCH: tuple[tuple[type[errors.NovaError], grpc.StatusCode], ...] = (
    (errors.InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (errors.ConflictError, grpc.StatusCode.ABORTED),
    (errors.RateLimitedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
)


class RemoteError(RuntimeError):
    """A failure the remote service reported without a NovaError (a bug over there).

    Deliberately not a NovaError: like an unexpected exception in-process, the gateway masks
    it ("Internal server error") instead of showing its message to a client.
    """

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


def grpc_code(error: errors.NovaError) -> grpc.StatusCode:
    """The gRPC status code of ``error`` (INTERNAL for anything unexpected)."""
    for branch, status in _BY_BRANCH:
        if isinstance(error, branch):
            return status
    return _BY_CODE.get(error.code, grpc.StatusCode.INTERNAL)


def error_trailer(error: errors.NovaError) -> tuple[tuple[str, bytes]]:
    """Trailing metadata that lets the client rebuild ``error`` exactly."""
    payload = {
        "class": _qualified(type(error)),
        "code": str(error.code),
        "message": error.message,
        "field": error.field,
        "details": error.details,
    }
    return ((ERROR_KEY, json.dumps(payload, default=str).encode()),)


def error_from_status(
    code: grpc.StatusCode | None,
    details: str | None,
    trailers: Sequence[tuple[str, str | bytes]] | None,
    *,
    target: str,
) -> errors.NovaError | RemoteError:
    """The error a failed call stands for: the server's NovaError, or a transport error.

    Args:
        code: The call's status code.
        details: The status message.
        trailers: The call's trailing metadata.
        target: The service called (names the dependency in transport errors).
    """
    for key, value in trailers or ():
        if key == ERROR_KEY and isinstance(value, bytes):
            rebuilt = _rebuild(value)
            if rebuilt is not None:
                return rebuilt
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        error: errors.NovaError = DeadlineExceededError(
            f"{target} did not answer within the deadline.", retry_after=0.5, dependency=target
        )
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        error = errors.UnavailableError(
            f"{target} is unavailable; retry shortly.", dependency=target
        )
    elif code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        error = errors.UnavailableError(
            f"{target} refused the call: {details or 'resource exhausted'}.", dependency=target
        )
    else:
        name = code.name if code is not None else "UNKNOWN"
        return RemoteError(f"{target} failed ({name}): {details or 'no details'}.", status=name)
    return error


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _classes() -> dict[str, type[errors.NovaError]]:
    found: dict[str, type[errors.NovaError]] = {}
    pending: list[type[errors.NovaError]] = [errors.NovaError]
    while pending:
        cls = pending.pop()
        found[_qualified(cls)] = cls
        pending.extend(cls.__subclasses__())
    return found


def _rebuild(raw: bytes) -> errors.NovaError | None:
    try:
        data: dict[str, Any] = json.loads(raw)
        cls = _classes().get(str(data["class"]), errors.NovaError)
        code = errors.ErrorCode(data["code"])
        message = str(data["message"])
    except (ValueError, KeyError, TypeError):
        return None
    # Subclasses have their own constructors (retry_after, setting...); bypass them and set
    # the state every NovaError has, so any subclass round-trips.
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message = message
    error.field = data.get("field")
    error.details = dict(data.get("details") or {})
    if code is not cls.code:
        error.code = code  # type: ignore[misc]  # ClassVar narrowed per instance, as NovaError does
    # UnavailableError and RateLimitedError keep these as attributes too.
    retry_after = error.details.get("retryAfter")
    if isinstance(retry_after, int | float):
        error.__dict__["retry_after"] = float(retry_after)
    if isinstance(error, errors.UnavailableError):
        error.__dict__["dependency"] = error.details.get("dependency")
    return error
