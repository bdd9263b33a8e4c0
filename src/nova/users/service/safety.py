"""Safety use cases: blocks, mutes, relations, hidden sets and preferences.

Hidden sets and preferences are read through the version-fenced cache. A change bumps the
``relation_versions`` row of every user whose cached value it changes, then fences those keys
with the bumped version *before* commit (no window in which a reader could fill the old value
after commit) and again *after* commit (in case a fill that read the old snapshot landed in
between). Both keys of a user share that one version row: versions only ever grow, and each key
is fenced whenever its own value changes, so sharing the counter costs at most an extra miss.

==============  =====================  =======================================
change          versions bumped        keys fenced
==============  =====================  =======================================
block/unblock   blocker and blocked    both users' hidden sets (blocks hide both ways)
mute/unmute     muter                  the muter's hidden set
preferences     the user               the user's preferences
==============  =====================  =======================================
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Final

from nova.platform import errors
from nova.platform.cache import Versioned
from nova.platform.events import outbox
from nova.users import domain, events, store
from nova.users.service.graph import GraphUseCases

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import asyncpg

    from nova.platform.context import Actor

#: Most users one ``relations`` call answers for.
MAX_RELATIONS: Final = 1_000


def _encode_ids(ids: frozenset[uuid.UUID]) -> object:
    return sorted(i.hex for i in ids)


def _decode_ids(raw: object) -> frozenset[uuid.UUID]:
    if not isinstance(raw, list):
        raise TypeError("cached hidden set is not a list")
    return frozenset(uuid.UUID(hex=str(i)) for i in raw)


def _decode_preferences(raw: object) -> domain.Preferences:
    return domain.Preferences.from_stored(raw if isinstance(raw, dict) else {})


class SafetyUseCases(GraphUseCases):
    """Blocking, muting and what a viewer must not see."""

    async def block(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Block ``target_id``: follows and pending requests both ways are removed. Idempotent.

        Takes effect on the very next :meth:`hidden_author_ids` of either user. Emits
        ``Blocked`` with the number of follows removed.

        Raises:
            errors.InvalidInputError: ``SELF_ACTION``.
            errors.NotFoundError: no such user.
        """
        me = self._require_user(actor)
        domain.check_not_self(me, target_id, action="block")
        fences: dict[str, int] = {}
        async with self._db.write() as conn:
            await self._keyed(
                conn,
                actor,
                key=idempotency_key,
                operation="users.block",
                request={"target_id": str(target_id)},
                execute=lambda: self._do_block(conn, actor, me=me, target_id=target_id, out=fences),
            )
        await self._fence(fences)

    async def _do_block(
        self,
        conn: asyncpg.Connection,
        actor: Actor,
        *,
        me: uuid.UUID,
        target_id: uuid.UUID,
        out: dict[str, int],
    ) -> dict[str, Any]:
        await self._lock_pair(conn, actor, me=me, other=target_id)
        if await store.safety.insert_block(
            conn, tenant_id=actor.tenant_id, blocker_id=me, blocked_id=target_id
        ):
            removed = await store.graph.delete_pair_edges(conn, a=me, b=target_id)
            await store.graph.adjust_counts(conn, removed, delta=-1)
            out.update(await self._bump_hidden(conn, me, target_id))
            await outbox.append(
                conn,
                events.user_event(
                    actor,
                    "Blocked",
                    user_id=me,
                    payload={"blocked_id": str(target_id), "removed_follows": len(removed)},
                ),
            )
        return {"blocked": True}

    async def unblock(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Lift the caller's block of ``target_id`` (follows are not restored). Idempotent.

        Emits ``Unblocked`` when a block was removed.
        """
        me = self._require_user(actor)
        domain.check_not_self(me, target_id, action="unblock")
        fences: dict[str, int] = {}

        async def execute() -> dict[str, Any]:
            if await store.safety.delete_block(conn, blocker_id=me, blocked_id=target_id):
                fences.update(await self._bump_hidden(conn, me, target_id))
                await outbox.append(
                    conn,
                    events.user_event(
                        actor, "Unblocked", user_id=me, payload={"blocked_id": str(target_id)}
                    ),
                )
            return {"blocked": False}

        async with self._db.write() as conn:
            await self._keyed(
                conn,
                actor,
                key=idempotency_key,
                operation="users.unblock",
                request={"target_id": str(target_id)},
                execute=execute,
            )
        await self._fence(fences)

    async def mute(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Hide ``target_id``'s content from the caller without telling them. Idempotent.

        Emits ``Muted`` when a mute was created.

        Raises:
            errors.InvalidInputError: ``SELF_ACTION``.
            errors.NotFoundError: no such user.
        """
        await self._set_mute(actor, target_id=target_id, muted=True, key=idempotency_key)

    async def unmute(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Show ``target_id``'s content again. Idempotent; emits ``Unmuted`` on a change."""
        await self._set_mute(actor, target_id=target_id, muted=False, key=idempotency_key)

    async def _set_mute(
        self, actor: Actor, *, target_id: uuid.UUID, muted: bool, key: str | None
    ) -> None:
        me = self._require_user(actor)
        domain.check_not_self(me, target_id, action="mute" if muted else "unmute")
        fences: dict[str, int] = {}

        async def execute() -> dict[str, Any]:
            if muted:
                await store.accounts.get_user(conn, tenant_id=actor.tenant_id, user_id=target_id)
                changed = await store.safety.insert_mute(
                    conn, tenant_id=actor.tenant_id, muter_id=me, muted_id=target_id
                )
            else:
                changed = await store.safety.delete_mute(conn, muter_id=me, muted_id=target_id)
            if changed:
                fences.update(await self._bump_hidden(conn, me))
                await outbox.append(
                    conn,
                    events.user_event(
                        actor,
                        "Muted" if muted else "Unmuted",
                        user_id=me,
                        payload={"muted_id": str(target_id)},
                    ),
                )
            return {"muted": muted}

        async with self._db.write() as conn:
            await self._keyed(
                conn,
                actor,
                key=key,
                operation="users.mute" if muted else "users.unmute",
                request={"target_id": str(target_id)},
                execute=execute,
            )
        await self._fence(fences)

    async def _bump_hidden(self, conn: asyncpg.Connection, *user_ids: uuid.UUID) -> dict[str, int]:
        """Bump each user's version and fence their hidden-set keys before commit."""
        fences = {
            self._hidden_key(uid): await store.safety.bump_version(conn, user_id=uid)
            for uid in sorted(user_ids)
        }
        await self._fence(fences)
        return fences

    async def relations(
        self, actor: Actor, *, viewer_id: uuid.UUID, other_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, domain.Relation]:
        """The viewer's relation to each of ``other_ids``, in one query.

        Raises:
            errors.InvalidInputError: more than 1000 ids.
        """
        if not other_ids:
            return {}
        if len(other_ids) > MAX_RELATIONS:
            raise errors.InvalidInputError(
                f"Ask for at most {MAX_RELATIONS} relations at once.", field="otherIds"
            )
        return await self._db.run_read(
            store.safety.relations, viewer_id=viewer_id, other_ids=other_ids
        )

    async def hidden_author_ids(
        self, actor: Actor, *, viewer_id: uuid.UUID
    ) -> frozenset[uuid.UUID]:
        """Users whose content ``viewer_id`` must not see: blocked either way, or muted.

        Read through the version-fenced cache; a committed block is visible on the next call.
        """

        async def load() -> Versioned[frozenset[uuid.UUID]]:
            version, ids = await self._db.run_read(store.safety.load_hidden, user_id=viewer_id)
            if self._on_hidden_loaded is not None:
                await self._on_hidden_loaded(viewer_id)
            return Versioned(version, ids)

        return await self._cache.get_or_load(
            self._hidden_key(viewer_id), load, decode=_decode_ids, encode=_encode_ids
        )

    async def get_preferences(self, actor: Actor, *, user_id: uuid.UUID) -> domain.Preferences:
        """``user_id``'s preferences with defaults filled in, through the fenced cache."""

        async def load() -> Versioned[domain.Preferences]:
            version, data = await self._db.run_read(store.safety.load_preferences, user_id=user_id)
            return Versioned(version, domain.Preferences.from_stored(data))

        return await self._cache.get_or_load(
            self._preferences_key(user_id),
            load,
            decode=_decode_preferences,
            encode=domain.Preferences.as_dict,
        )

    async def update_preferences(
        self, actor: Actor, *, changes: Mapping[str, object]
    ) -> domain.Preferences:
        """Change some of the caller's preferences; others keep their values.

        Emits ``PreferencesUpdated`` with the changed keys.

        Raises:
            errors.InvalidInputError: an unknown key or a value outside its choices (``field``
                names the key).
        """
        me = self._require_user(actor)
        normalized = domain.check_preference_changes(changes)
        key = self._preferences_key(me)
        async with self._db.write() as conn:
            stored = await store.safety.merge_preferences(
                conn, tenant_id=actor.tenant_id, user_id=me, changes=normalized
            )
            version = await store.safety.bump_version(conn, user_id=me)
            await self._fence({key: version})
            await outbox.append(
                conn,
                events.user_event(
                    actor, "PreferencesUpdated", user_id=me, payload={"keys": sorted(normalized)}
                ),
            )
        await self._fence({key: version})
        return domain.Preferences.from_stored(stored)
