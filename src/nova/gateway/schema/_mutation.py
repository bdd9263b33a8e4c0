"""The one place mutations turn expected failures into payload errors.

Expected failures (:class:`~nova.platform.errors.NovaError`) become ``errors`` entries of the
payload. Overload and outages (:class:`~nova.platform.errors.UnavailableError`) and rate limits
are *not* swallowed: they surface as GraphQL errors so the transport can answer 503/429 with
``Retry-After``, which clients and proxies know how to back off from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry

from nova.gateway.schema.types import UserError
from nova.platform import errors

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable

    from nova.gateway.context import GatewayInfo


__all__ = ["IdempotencyKey", "attempt", "require_viewer"]

T = TypeVar("T")

#: The optional ``idempotencyKey`` argument every mutation accepts.
IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="Retrying with the same key (24 h) returns the first result, never repeats "
        "the effect. Naturally idempotent mutations accept it for uniformity."
    ),
]


async def attempt(call: Awaitable[T]) -> tuple[T | None, list[UserError]]:
    """Await ``call``; return ``(value, [])`` or ``(None, [error])`` for expected failures."""
    try:
        return await call, []
    except (errors.UnavailableError, errors.RateLimitedError):
        raise
    except errors.NovaError as exc:
        return None, [UserError.from_error(exc)]


def require_viewer(info: GatewayInfo) -> uuid.UUID:
    """The authenticated viewer's id.

    Raises:
        errors.UnauthenticatedError: the request carries no valid token.
    """
    user_id = info.context.actor.user_id
    if user_id is None:
        raise errors.UnauthenticatedError("Sign in to do this.")
    return user_id
