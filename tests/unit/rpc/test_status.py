"""NovaError -> gRPC status + trailer -> the same NovaError, for every class in the tree."""

from __future__ import annotations

import grpc
import pytest

from nova.platform import errors
from nova.platform.resilience import CircuitOpenError, DeadlineExceededError
from nova.platform.rpc.status import (
    ERROR_KEY,
    RemoteError,
    error_from_status,
    error_trailer,
    grpc_code,
)

CASES: list[tuple[errors.NovaError, grpc.StatusCode]] = [
    (errors.InvalidInputError("bad", field="limit"), grpc.StatusCode.INVALID_ARGUMENT),
    (
        errors.InvalidInputError("self", field="userId", code=errors.ErrorCode.SELF_ACTION),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    (
        errors.UnauthenticatedError("x", code=errors.ErrorCode.TOKEN_EXPIRED),
        grpc.StatusCode.UNAUTHENTICATED,
    ),
    (
        errors.PermissionDeniedError("no", code=errors.ErrorCode.BLOCKED),
        grpc.StatusCode.PERMISSION_DENIED,
    ),
    (errors.NotFoundError("gone", field="postId"), grpc.StatusCode.NOT_FOUND),
    (errors.ConflictError("conflict"), grpc.StatusCode.ABORTED),
    (
        errors.AlreadyExistsError("taken", field="username", code=errors.ErrorCode.USERNAME_TAKEN),
        grpc.StatusCode.ALREADY_EXISTS,
    ),
    (errors.RateLimitedError("slow down", retry_after=2.5), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.UnavailableError("down", dependency="redis"), grpc.StatusCode.UNAVAILABLE),
    (errors.PoolExhaustedError("full", retry_after=2), grpc.StatusCode.UNAVAILABLE),
    (CircuitOpenError("open", dependency="users"), grpc.StatusCode.UNAVAILABLE),
    (DeadlineExceededError("late"), grpc.StatusCode.UNAVAILABLE),
    (errors.ConfigurationError(setting="NOVA_X", reason="bad"), grpc.StatusCode.INTERNAL),
]


@pytest.mark.parametrize(("error", "code"), CASES, ids=lambda c: type(c).__name__)
def test_round_trip_keeps_class_code_field_message(
    error: errors.NovaError, code: grpc.StatusCode
) -> None:
    assert grpc_code(error) is code
    rebuilt = error_from_status(code, error.message, list(error_trailer(error)), target="svc")
    assert type(rebuilt) is type(error)
    assert isinstance(rebuilt, errors.NovaError)
    assert rebuilt.code == error.code
    assert rebuilt.field == error.field
    assert rebuilt.message == error.message
    assert rebuilt.as_dict() == error.as_dict()
    assert rebuilt.retryable == error.retryable


def test_rate_limited_keeps_retry_after() -> None:
    error = errors.RateLimitedError("slow down", retry_after=2.5)
    rebuilt = error_from_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "", list(error_trailer(error)), target="svc"
    )
    assert isinstance(rebuilt, errors.RateLimitedError)
    assert rebuilt.retry_after == 2.5


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.UNAVAILABLE, errors.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.UnavailableError),
        (grpc.StatusCode.INTERNAL, RemoteError),
        (grpc.StatusCode.UNIMPLEMENTED, RemoteError),
    ],
)
def test_transport_failures_are_typed(code: grpc.StatusCode, kind: type[Exception]) -> None:
    error = error_from_status(code, "boom", [], target="content")
    assert isinstance(error, kind)
    if isinstance(error, errors.UnavailableError):
        assert error.dependency == "content"


def test_garbage_trailer_is_ignored() -> None:
    error = error_from_status(
        grpc.StatusCode.NOT_FOUND, "x", [(ERROR_KEY, b"{not json")], target="users"
    )
    assert isinstance(error, RemoteError)
