"""Follow-graph use cases: follow, unfollow, requests, lists, fan-out queries.

Every mutation locks both users' rows in id order first (``store.accounts.lock_users``), so
concurrent operations on one pair serialize: the last to commit wins and counters move only by
rows actually inserted or deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from nova.platform import errors
from nova.platform.events import outbox
from nova.users import cursor, domain, events, store
from nova.users.service._base import ServiceBase

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from nova.platform.context import Actor
    from nova.users.store.graph import ListKind

#: Largest page of followers, following or requests.
MAX_PAGE: Final = 100
#: Largest batch of follower ids for one fan-out step.
MAX_FANOUT_BATCH: Final = 10_000


class GraphUseCases(ServiceBase):
    """Following and being followed."""

    async def follow(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> domain.FollowState:
        """Follow ``target_id``, or ask to when the account is private. Idempotent.

        Emits ``Followed`` or ``FollowRequested`` only when something changed.

        Returns:
            ``FOLLOWING`` or ``REQUESTED``.

        Raises:
            errors.InvalidInputError: ``SELF_ACTION``.
            errors.PermissionDeniedError: ``BLOCKED`` when either user blocks the other.
            errors.NotFoundError: no such user.
            errors.ConflictError: the caller already follows the maximum number of accounts, or
                the idempotency key was used for another request.
        """
        me = self._require_user(actor)
        domain.check_not_self(me, target_id, action="follow")
        async with self._db.write() as conn:
            response = await self._keyed(
                conn,
                actor,
                key=idempotency_key,
                operation="users.follow",
                request={"target_id": str(target_id)},
                execute=lambda: self._do_follow(conn, actor, me=me, target_id=target_id),
            )
        return domain.FollowState(response["state"])

    async def _do_follow(
        self, conn: asyncpg.Connection, actor: Actor, *, me: uuid.UUID, target_id: uuid.UUID
    ) -> dict[str, Any]:
        locked = await self._lock_pair(conn, actor, me=me, other=target_id)
        facts = await store.graph.pair_facts(conn, a=me, b=target_id)
        decision = domain.decide_follow(
            blocked=facts.blocked,
            following=facts.following,
            requested=facts.requested,
            target_private=locked[target_id].is_private,
        )
        if decision is domain.FollowDecision.REQUEST:
            await store.graph.insert_follow_request(
                conn, tenant_id=actor.tenant_id, requester_id=me, target_id=target_id
            )
            await outbox.append(
                conn,
                events.user_event(
                    actor, "FollowRequested", user_id=me, payload={"target_id": str(target_id)}
                ),
            )
            return {"state": domain.FollowState.REQUESTED}
        if decision is domain.FollowDecision.ALREADY_REQUESTED:
            return {"state": domain.FollowState.REQUESTED}
        if decision is domain.FollowDecision.FOLLOW:
            if locked[me].following_count >= domain.MAX_FOLLOWING:
                raise errors.ConflictError(
                    f"You already follow {domain.MAX_FOLLOWING} accounts; unfollow some first.",
                    field="userId",
                    details={"limit": domain.MAX_FOLLOWING},
                )
            if facts.requested:
                # The target went public while our request was pending: the follow replaces it.
                await store.graph.delete_follow_request(conn, requester_id=me, target_id=target_id)
            await self._add_follow(conn, actor, follower_id=me, followee_id=target_id)
        return {"state": domain.FollowState.FOLLOWING}

    async def _add_follow(
        self,
        conn: asyncpg.Connection,
        actor: Actor,
        *,
        follower_id: uuid.UUID,
        followee_id: uuid.UUID,
    ) -> None:
        inserted = await store.graph.insert_follow(
            conn, tenant_id=actor.tenant_id, follower_id=follower_id, followee_id=followee_id
        )
        if inserted:
            await store.graph.adjust_counts(conn, [(follower_id, followee_id)], delta=1)
            await outbox.append(
                conn,
                events.user_event(
                    actor,
                    "Followed",
                    user_id=follower_id,
                    payload={"followee_id": str(followee_id)},
                ),
            )

    async def unfollow(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Stop following ``target_id`` or withdraw a pending request. Idempotent.

        Emits ``Unfollowed`` (``was``: ``following`` or ``requested``) when something changed.

        Raises:
            errors.InvalidInputError: ``SELF_ACTION``.
            errors.NotFoundError: no such user.
        """
        me = self._require_user(actor)
        domain.check_not_self(me, target_id, action="unfollow")
        async with self._db.write() as conn:
            await self._keyed(
                conn,
                actor,
                key=idempotency_key,
                operation="users.unfollow",
                request={"target_id": str(target_id)},
                execute=lambda: self._do_unfollow(conn, actor, me=me, target_id=target_id),
            )

    async def _do_unfollow(
        self, conn: asyncpg.Connection, actor: Actor, *, me: uuid.UUID, target_id: uuid.UUID
    ) -> dict[str, Any]:
        await self._lock_pair(conn, actor, me=me, other=target_id)
        was = None
        if await store.graph.delete_follow(conn, follower_id=me, followee_id=target_id):
            await store.graph.adjust_counts(conn, [(me, target_id)], delta=-1)
            was = "following"
        if await store.graph.delete_follow_request(conn, requester_id=me, target_id=target_id):
            was = "requested"
        if was is not None:
            await outbox.append(
                conn,
                events.user_event(
                    actor,
                    "Unfollowed",
                    user_id=me,
                    payload={"followee_id": str(target_id), "was": was},
                ),
            )
        return {"state": domain.FollowState.NONE}

    async def approve_follow_request(self, actor: Actor, *, requester_id: uuid.UUID) -> None:
        """Accept ``requester_id``'s pending request to follow the caller.

        Emits ``FollowRequestApproved`` and ``Followed``.

        Raises:
            errors.NotFoundError: no pending request from that user.
        """
        me = self._require_user(actor)
        async with self._db.write() as conn:
            await self._lock_pair(conn, actor, me=me, other=requester_id)
            await self._take_request(conn, requester_id=requester_id, target_id=me)
            await outbox.append(
                conn,
                events.user_event(
                    actor,
                    "FollowRequestApproved",
                    user_id=me,
                    payload={"requester_id": str(requester_id)},
                ),
            )
            await self._add_follow(conn, actor, follower_id=requester_id, followee_id=me)

    async def reject_follow_request(self, actor: Actor, *, requester_id: uuid.UUID) -> None:
        """Decline ``requester_id``'s pending request. Emits ``FollowRequestRejected``.

        Raises:
            errors.NotFoundError: no pending request from that user.
        """
        me = self._require_user(actor)
        async with self._db.write() as conn:
            await self._lock_pair(conn, actor, me=me, other=requester_id)
            await self._take_request(conn, requester_id=requester_id, target_id=me)
            await outbox.append(
                conn,
                events.user_event(
                    actor,
                    "FollowRequestRejected",
                    user_id=me,
                    payload={"requester_id": str(requester_id)},
                ),
            )

    @staticmethod
    async def _take_request(
        conn: asyncpg.Connection, *, requester_id: uuid.UUID, target_id: uuid.UUID
    ) -> None:
        if not await store.graph.delete_follow_request(
            conn, requester_id=requester_id, target_id=target_id
        ):
            raise errors.NotFoundError(
                "There is no pending follow request from this user.", field="requesterId"
            )

    async def _lock_pair(
        self, conn: asyncpg.Connection, actor: Actor, *, me: uuid.UUID, other: uuid.UUID
    ) -> dict[uuid.UUID, store.accounts.LockedUser]:
        locked = await store.accounts.lock_users(conn, tenant_id=actor.tenant_id, ids=[me, other])
        if other not in locked:
            raise errors.NotFoundError("No such user.", field="userId")
        if me not in locked:
            raise errors.UnauthenticatedError("Your account no longer exists; sign in again.")
        return locked

    async def list_followers(
        self, actor: Actor, *, user_id: uuid.UUID, after: str | None = None, limit: int = 20
    ) -> domain.Page[domain.User]:
        """Who follows ``user_id``, newest first; pass ``next_cursor`` as ``after``.

        Raises:
            errors.PermissionDeniedError: the account is private and the caller does not follow
                it (``FORBIDDEN``), or a block stands between them (``BLOCKED``).
            errors.InvalidInputError: bad ``limit`` or cursor.
        """
        return await self._page(actor, "followers", owner_id=user_id, after=after, limit=limit)

    async def list_following(
        self, actor: Actor, *, user_id: uuid.UUID, after: str | None = None, limit: int = 20
    ) -> domain.Page[domain.User]:
        """Whom ``user_id`` follows, newest first; same rules as :meth:`list_followers`."""
        return await self._page(actor, "following", owner_id=user_id, after=after, limit=limit)

    async def list_follow_requests(
        self, actor: Actor, *, after: str | None = None, limit: int = 20
    ) -> domain.Page[domain.User]:
        """Pending requests to follow the caller, newest first."""
        me = self._require_user(actor)
        return await self._page(actor, "requests", owner_id=me, after=after, limit=limit)

    async def _page(
        self, actor: Actor, kind: ListKind, *, owner_id: uuid.UUID, after: str | None, limit: int
    ) -> domain.Page[domain.User]:
        domain.check_limit(limit, maximum=MAX_PAGE)
        keyset = cursor.decode(after) if after is not None else None

        async def check_and_list(conn: asyncpg.Connection) -> list[store.graph.Edge]:
            if actor.user_id != owner_id:
                await self._check_can_see_graph(conn, actor, owner_id=owner_id)
            return await store.graph.list_edges(
                conn, kind, owner_id=owner_id, after=keyset, limit=limit + 1
            )

        edges = await self._db.run_read(check_and_list)
        page, more = edges[:limit], len(edges) > limit
        next_cursor = cursor.encode(page[-1].created_at, page[-1].user.id) if more else None
        return domain.Page(items=[e.user for e in page], next_cursor=next_cursor)

    async def _check_can_see_graph(
        self, conn: asyncpg.Connection, actor: Actor, *, owner_id: uuid.UUID
    ) -> None:
        owner = await store.accounts.get_user(conn, tenant_id=actor.tenant_id, user_id=owner_id)
        relation = None
        if actor.user_id is not None:
            found = await store.safety.relations(
                conn, viewer_id=actor.user_id, other_ids=[owner_id]
            )
            relation = found.get(owner_id)
        if relation is not None and relation.blocked_either_way:
            raise errors.PermissionDeniedError(
                "You can't see this account's connections.", code=errors.ErrorCode.BLOCKED
            )
        following = relation is not None and relation.follow is domain.FollowState.FOLLOWING
        if owner.is_private and not following:
            raise errors.PermissionDeniedError(
                "This account is private; follow it to see its connections."
            )

    async def followee_ids(self, actor: Actor, *, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Everyone ``user_id`` follows (at most :data:`~nova.users.domain.MAX_FOLLOWING`)."""
        return await self._db.run_read(
            store.graph.followee_ids, user_id=user_id, limit=domain.MAX_FOLLOWING
        )

    async def active_follower_ids(
        self,
        actor: Actor,
        *,
        author_id: uuid.UUID,
        active_since: dt.datetime,
        after: uuid.UUID | None = None,
        limit: int = 1_000,
    ) -> list[uuid.UUID]:
        """Followers of ``author_id`` active since ``active_since``, in id order, for fan-out.

        Page by passing the last id returned as ``after``.
        """
        domain.check_limit(limit, maximum=MAX_FANOUT_BATCH)
        return await self._db.run_read(
            store.graph.active_follower_ids,
            author_id=author_id,
            active_since=active_since,
            after=after,
            limit=limit,
        )

    async def follower_count(self, actor: Actor, *, user_id: uuid.UUID) -> int:
        """How many approved followers ``user_id`` has.

        Raises:
            errors.NotFoundError: no such user.
        """
        user = await self._get_for_count(actor, user_id)
        return user.follower_count

    async def _get_for_count(self, actor: Actor, user_id: uuid.UUID) -> domain.User:
        return await self._db.run_read(
            store.accounts.get_user, tenant_id=actor.tenant_id, user_id=user_id
        )
