"""Profile use cases: look-ups, search, profile edits, activity tracking."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from nova.platform import errors
from nova.platform.events import inbox, outbox
from nova.users import domain, events, store
from nova.users.domain import Unset
from nova.users.service._base import ServiceBase

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from nova.platform.context import Actor

#: Most users one batch look-up returns (a page of hydrated authors is far below this).
MAX_BATCH: Final = 1_000
#: Most results of one username search.
MAX_SEARCH: Final = 50
# last_active_at has minute resolution for fan-out; writing it more often only adds load.
_TOUCH_INTERVAL: Final = 60.0
_TOUCH_MEMO_MAX: Final = 100_000


class ProfileUseCases(ServiceBase):
    """Reading and editing profiles."""

    async def get_user(self, actor: Actor, *, user_id: uuid.UUID) -> domain.User:
        """The profile of ``user_id``.

        Raises:
            errors.NotFoundError: no such user in the actor's tenant.
        """
        return await self._db.run_read(
            store.accounts.get_user, tenant_id=actor.tenant_id, user_id=user_id
        )

    async def get_by_username(self, actor: Actor, *, username: str) -> domain.User:
        """The profile named ``username`` (case-insensitive).

        Raises:
            errors.NotFoundError: no such user in the actor's tenant.
        """
        return await self._db.run_read(
            store.accounts.get_user_by_username,
            tenant_id=actor.tenant_id,
            username=username.strip().removeprefix("@"),
        )

    async def get_users(
        self, actor: Actor, *, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, domain.User]:
        """Profiles by id in one query; unknown ids are absent from the result.

        Raises:
            errors.InvalidInputError: more than 1000 ids.
        """
        if not ids:
            return {}
        if len(ids) > MAX_BATCH:
            raise errors.InvalidInputError(
                f"Ask for at most {MAX_BATCH} users at once.", field="ids"
            )
        return await self._db.run_read(
            store.accounts.find_users, tenant_id=actor.tenant_id, ids=ids
        )

    async def search_users(
        self, actor: Actor, *, prefix: str, limit: int = 10
    ) -> list[domain.User]:
        """Users whose username starts with ``prefix`` (case-insensitive), alphabetically.

        Raises:
            errors.InvalidInputError: ``limit`` outside 1..50.
        """
        domain.check_limit(limit, maximum=MAX_SEARCH)
        normalized = domain.search_prefix(prefix)
        if normalized is None:
            return []
        return await self._db.run_read(
            store.accounts.search_users, tenant_id=actor.tenant_id, prefix=normalized, limit=limit
        )

    async def update_profile(
        self,
        actor: Actor,
        *,
        display_name: str | Unset = Unset.UNSET,
        bio: str | Unset = Unset.UNSET,
        avatar_media_id: uuid.UUID | Unset | None = Unset.UNSET,
        is_private: bool | Unset = Unset.UNSET,
    ) -> domain.User:
        """Change the caller's profile; omitted fields stay, ``avatar_media_id=None`` clears.

        Emits ``ProfileUpdated`` with the names of the changed fields. Going public leaves
        pending follow requests pending; the user approves or rejects them as before.

        Raises:
            errors.InvalidInputError: nothing to change, or a field breaks its rule.
            errors.NotFoundError: the avatar media does not exist.
        """
        me = self._require_user(actor)
        changes: dict[str, Any] = {}
        if not isinstance(display_name, Unset):
            changes["display_name"] = domain.check_display_name(display_name)
        if not isinstance(bio, Unset):
            changes["bio"] = domain.check_bio(bio)
        if not isinstance(avatar_media_id, Unset):
            changes["avatar_media_id"] = avatar_media_id
        if not isinstance(is_private, Unset):
            changes["is_private"] = is_private
        if not changes:
            raise errors.InvalidInputError("Change at least one profile field.", field="profile")
        async with self._db.write() as conn:
            user = await store.accounts.update_profile(
                conn, tenant_id=actor.tenant_id, user_id=me, changes=changes
            )
            await outbox.append(
                conn,
                events.user_event(
                    actor, "ProfileUpdated", user_id=me, payload={"fields": sorted(changes)}
                ),
            )
        return user

    async def touch_last_active(self, actor: Actor) -> None:
        """Record that the caller is active; cheap enough to call on every request.

        Writes at most once a minute per user: an in-process memo skips the round trip, and
        the SQL guard keeps other processes' touches within the same minute from writing.
        """
        if actor.user_id is None:
            return
        now = time.monotonic()
        last = self._last_touch.get(actor.user_id)
        if last is not None and now - last < _TOUCH_INTERVAL:
            return
        if len(self._last_touch) >= _TOUCH_MEMO_MAX:
            # Dropping the memo only costs one guarded UPDATE per user; keeps memory bounded.
            self._last_touch.clear()
        async with self._db.write() as conn:
            await store.accounts.touch_last_active(conn, user_id=actor.user_id)
        self._last_touch[actor.user_id] = now

    async def count_post_event(
        self, *, event_id: uuid.UUID, author_id: uuid.UUID, delta: int
    ) -> None:
        """Apply a published (+1) or deleted (-1) post to the author's ``post_count``, once.

        Posts belong to content; the counter on the profile follows its events. The inbox
        claim in the same transaction makes a redelivered event a no-op.
        """
        async with self._db.write() as conn:
            if await inbox.claim(conn, consumer="users.post_count", event_id=event_id):
                await conn.execute(
                    "UPDATE users SET post_count = GREATEST(post_count + $2, 0) WHERE id = $1",
                    author_id,
                    delta,
                )
