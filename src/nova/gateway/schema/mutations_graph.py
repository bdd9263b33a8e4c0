"""Social-graph mutations: follow, requests, block, mute."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from nova.gateway import relay
from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import mutation
from nova.gateway.schema._mutation import IdempotencyKey, attempt, require_viewer
from nova.gateway.schema.mutations_profile import UserPayload
from nova.gateway.schema.types import FollowState, User, UserError

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable


__all__ = ["GraphMutations"]


@strawberry.type
class FollowPayload:
    user: User | None = None
    state: FollowState | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _target_payload(
    info: GatewayInfo, user_id: strawberry.ID, action: Callable[[uuid.UUID], Awaitable[object]]
) -> UserPayload:
    async def run() -> User | None:
        require_viewer(info)
        target = relay.from_global_id(user_id, expected="User", field="userId")
        await action(target)
        return await hydrate.user(info, await info.context.loaders.users.load(target))

    user, errs = await attempt(run())
    return UserPayload(user=user, errors=errs)


@strawberry.type
class GraphMutations:
    @mutation(description="Follow a user, or request to if their account is private.")
    async def follow(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> FollowPayload:
        ctx = info.context

        async def run() -> tuple[User | None, FollowState]:
            require_viewer(info)
            target = relay.from_global_id(user_id, expected="User", field="userId")
            state = await ctx.services.users.follow(
                ctx.actor, target_id=target, idempotency_key=idempotency_key
            )
            return await hydrate.user(info, await ctx.loaders.users.load(target)), state

        result, errs = await attempt(run())
        if result is None:
            return FollowPayload(errors=errs)
        return FollowPayload(user=result[0], state=result[1])

    @mutation(description="Stop following a user, or withdraw a request.")
    async def unfollow(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.unfollow(
                ctx.actor, target_id=t, idempotency_key=idempotency_key
            ),
        )

    @mutation(description="Accept a pending follow request from a user.")
    async def approve_follow_request(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.approve_follow_request(ctx.actor, requester_id=t),
        )

    @mutation(description="Decline a pending follow request from a user.")
    async def reject_follow_request(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.reject_follow_request(ctx.actor, requester_id=t),
        )

    @mutation(description="Block a user: both become invisible to each other.")
    async def block(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.block(
                ctx.actor, target_id=t, idempotency_key=idempotency_key
            ),
        )

    @mutation(description="Unblock a user.")
    async def unblock(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.unblock(
                ctx.actor, target_id=t, idempotency_key=idempotency_key
            ),
        )

    @mutation(description="Mute a user: their posts leave the viewer's feed.")
    async def mute(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.mute(
                ctx.actor, target_id=t, idempotency_key=idempotency_key
            ),
        )

    @mutation(description="Unmute a user.")
    async def unmute(
        self, info: GatewayInfo, user_id: strawberry.ID, idempotency_key: IdempotencyKey = None
    ) -> UserPayload:
        ctx = info.context
        return await _target_payload(
            info,
            user_id,
            lambda t: ctx.services.users.unmute(
                ctx.actor, target_id=t, idempotency_key=idempotency_key
            ),
        )
