"""Account mutations: register, login, refreshToken, logout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import mutation
from nova.gateway.schema._mutation import IdempotencyKey, attempt
from nova.gateway.schema.types import User, UserError

if TYPE_CHECKING:
    from nova.users.domain import TokenPair

__all__ = ["AuthMutations"]


@strawberry.type
class RegisterPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AuthPayload:
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    token_type: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, pair: TokenPair | None, errs: list[UserError]) -> AuthPayload:
        """The payload of a token exchange."""
        if pair is None:
            return cls(errors=errs)
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            token_type=pair.token_type,
        )


@strawberry.type
class LogoutPayload:
    ok: bool = False
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AuthMutations:
    @mutation(description="Create an account; then call login.")
    async def register(
        self,
        info: GatewayInfo,
        username: str,
        email: str,
        password: str,
        display_name: str | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> RegisterPayload:
        ctx = info.context
        user, errs = await attempt(
            ctx.services.users.register(
                ctx.actor,
                username=username,
                email=email,
                password=password,
                display_name=display_name,
            )
        )
        return RegisterPayload(user=await hydrate.user(info, user), errors=errs)

    @mutation(description="Exchange a username (or email) and password for tokens.")
    async def login(
        self,
        info: GatewayInfo,
        username_or_email: str,
        password: str,
        idempotency_key: IdempotencyKey = None,
    ) -> AuthPayload:
        ctx = info.context
        pair, errs = await attempt(
            ctx.services.users.login(
                ctx.actor, username_or_email=username_or_email, password=password
            )
        )
        return AuthPayload.of(pair, errs)

    @mutation(description="Exchange a refresh token (single use) for a new pair.")
    async def refresh_token(
        self, info: GatewayInfo, refresh_token: str, idempotency_key: IdempotencyKey = None
    ) -> AuthPayload:
        ctx = info.context
        pair, errs = await attempt(
            ctx.services.users.refresh(ctx.actor, refresh_token=refresh_token)
        )
        return AuthPayload.of(pair, errs)

    @mutation(description="Revoke a refresh token (idempotent).")
    async def logout(
        self, info: GatewayInfo, refresh_token: str, idempotency_key: IdempotencyKey = None
    ) -> LogoutPayload:
        ctx = info.context
        _, errs = await attempt(ctx.services.users.logout(ctx.actor, refresh_token=refresh_token))
        return LogoutPayload(ok=not errs, errors=errs)
