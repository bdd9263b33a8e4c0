"""Who is acting, for which tenant, under which correlation id.

Every use case takes an :class:`Actor` first. It is built once per request by the gateway
(or per event by a consumer) and passed down explicitly; services never read globals.

Example:
    >>> actor = Actor.anonymous(tenant_id="default")
    >>> actor.is_authenticated
    False
"""

from __future__ import annotations

import dataclasses
import uuid

__all__ = ["Actor"]


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a use case.

    Attributes:
        tenant_id: Tenant whose data the call may touch.
        user_id: The authenticated user, or None for anonymous callers and system jobs.
        correlation_id: Ties logs, events and traces of one request together.
    """

    tenant_id: str
    user_id: uuid.UUID | None = None
    correlation_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def anonymous(cls, *, tenant_id: str, correlation_id: str | None = None) -> Actor:
        """An unauthenticated caller of ``tenant_id``."""
        return cls(tenant_id=tenant_id, correlation_id=correlation_id or uuid.uuid4().hex)

    @classmethod
    def user(
        cls, user_id: uuid.UUID, *, tenant_id: str, correlation_id: str | None = None
    ) -> Actor:
        """An authenticated user of ``tenant_id``."""
        return cls(
            tenant_id=tenant_id, user_id=user_id, correlation_id=correlation_id or uuid.uuid4().hex
        )

    @property
    def is_authenticated(self) -> bool:
        """True when a user is acting."""
        return self.user_id is not None
