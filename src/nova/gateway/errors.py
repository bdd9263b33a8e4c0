"""How failures reach GraphQL clients.

=====================================  ==========================================================
failure                                client sees
=====================================  ==========================================================
expected, in a mutation                ``payload.errors: [{field, code, message}]`` (data)
expected, in a query field             a GraphQL error with ``extensions.code`` (``NOT_FOUND``)
parse / validation                     the validator's message, ``GRAPHQL_VALIDATION_FAILED``
anything else                          ``Internal server error`` and ``extensions.correlationId``
=====================================  ==========================================================

Unexpected exceptions are logged with their stack trace and the correlation id, and masked:
no SQL, stack trace or internal name ever leaves the process.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from nova.platform import errors

__all__ = ["format_error", "graphql_error", "nova_error_of"]

logger = logging.getLogger(__name__)


def nova_error_of(error: GraphQLError) -> errors.NovaError | None:
    """The :class:`~nova.platform.errors.NovaError` behind ``error``, if any."""
    original = error.original_error
    return original if isinstance(original, errors.NovaError) else None


def graphql_error(
    message: str, *, code: str, correlation_id: str, **extensions: Any
) -> dict[str, Any]:
    """A GraphQL error entry built by the transport (no GraphQLError object involved)."""
    return {
        "message": message,
        "extensions": {"code": code, "correlationId": correlation_id, **extensions},
    }


def format_error(error: GraphQLError, *, correlation_id: str) -> dict[str, Any]:
    """The client-visible form of ``error``, masking anything unexpected.

    Args:
        error: An error from parsing, validation or execution.
        correlation_id: The request's id; logged with masked errors and shown to the client.
    """
    original = error.original_error
    body: dict[str, Any] = {"message": error.message}
    if error.locations:
        body["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        body["path"] = list(error.path)
    if isinstance(original, errors.NovaError):
        body["message"] = original.message
        extensions = original.as_dict()
        extensions.pop("message", None)
    elif original is None or isinstance(original, GraphQLError):
        code = "GRAPHQL_VALIDATION_FAILED" if error.path is None else "BAD_USER_INPUT"
        extensions = {"code": code}
    else:
        logger.error(
            "unexpected error in a GraphQL resolver",
            exc_info=original,
            extra={"correlation_id": correlation_id, "path": error.path},
        )
        body["message"] = "Internal server error; quote the correlation id when reporting it."
        extensions = {"code": str(errors.ErrorCode.INTERNAL)}
    extensions["correlationId"] = correlation_id
    body["extensions"] = extensions
    return body
