"""Profile mutations: updateProfile, updatePreferences."""

from __future__ import annotations

from typing import Any, TypeVar

import strawberry

from nova.gateway.context import GatewayInfo  # noqa: TC001  # strawberry reads resolver annotations at runtime
from nova.gateway.schema import hydrate
from nova.gateway.schema._fields import mutation
from nova.gateway.schema._mutation import IdempotencyKey, attempt, require_viewer
from nova.gateway.schema.types import User, UserError
from nova.gateway.schema.users import Preferences
from nova.users.domain import CommentAudience, FeedMode, Unset

__all__ = ["ProfileMutations"]

T = TypeVar("T")


@strawberry.type
class UserPayload:
    user: User | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PreferencesPayload:
    preferences: Preferences | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _given(value: T | None) -> T | Unset:
    return Unset.UNSET if value is None else value


@strawberry.type
class ProfileMutations:
    @mutation(description="Change the viewer's profile; omitted fields stay.")
    async def update_profile(
        self,
        info: GatewayInfo,
        display_name: str | None = None,
        bio: str | None = None,
        is_private: bool | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> UserPayload:
        ctx = info.context

        async def run() -> User | None:
            require_viewer(info)
            user = await ctx.services.users.update_profile(
                ctx.actor,
                display_name=_given(display_name),
                bio=_given(bio),
                is_private=_given(is_private),
            )
            return await hydrate.user(info, user)

        user, errs = await attempt(run())
        return UserPayload(user=user, errors=errs)

    @mutation(description="Change some of the viewer's preferences.")
    async def update_preferences(
        self,
        info: GatewayInfo,
        feed_mode: FeedMode | None = None,
        who_can_comment: CommentAudience | None = None,
        show_sensitive_media: bool | None = None,
        notify_on_follow: bool | None = None,
        idempotency_key: IdempotencyKey = None,
    ) -> PreferencesPayload:
        ctx = info.context
        changes: dict[str, Any] = {
            key: value
            for key, value in (
                ("feed_mode", feed_mode),
                ("who_can_comment", who_can_comment),
                ("show_sensitive_media", show_sensitive_media),
                ("notify_on_follow", notify_on_follow),
            )
            if value is not None
        }

        async def run() -> Preferences:
            require_viewer(info)
            prefs = await ctx.services.users.update_preferences(ctx.actor, changes=changes)
            return Preferences.from_domain(prefs)

        prefs, errs = await attempt(run())
        return PreferencesPayload(preferences=prefs, errors=errs)
