"""The users client over gRPC: the same protocol as :class:`~nova.users.client.LocalUsersClient`.

Reads are idempotent and retried on ``UNAVAILABLE`` within the retry budget; mutations are
retried only when they carry an idempotency key or are set-like by nature (block, mute...).
``get_users`` and ``relations`` of concurrent requests are coalesced into one RPC per scope.

Example:
    >>> users = GrpcUsersClient(RpcTarget(SERVICE_NAME, name="users",
    ...                         addresses="127.0.0.1:50061", policy=policy))  # doctest: +SKIP
    >>> found = await users.get_users(actor, [user_id])                       # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from google.protobuf import json_format
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from nova.pb import users_pb2 as pb
from nova.platform.rpc import Hydrator
from nova.platform.rpc.wire import timestamp, uid
from nova.users import wire
from nova.users.domain import FollowState, Unset

if TYPE_CHECKING:
    import datetime as dt
    import uuid
    from collections.abc import Mapping, Sequence

    from nova.platform.context import Actor
    from nova.platform.rpc import RpcTarget
    from nova.users.domain import AccessClaims, Page, Preferences, Relation, TokenPair, User

__all__ = ["GrpcUsersClient"]

R = TypeVar("R", bound=Message)
_RelScope = tuple[str, "uuid.UUID | None", "uuid.UUID"]


def _ids(values: Sequence[str]) -> list[uuid.UUID]:
    return [uid(value, field="ids") for value in values]


class GrpcUsersClient:
    """:class:`~nova.gateway.ports.UsersApi` (and so ``UsersClient``) over gRPC.

    Args:
        target: The users service.
        window: Seconds to coalesce hydration lookups.
        max_batch: Keys that send a coalesced lookup at once.
    """

    def __init__(self, target: RpcTarget, *, window: float = 0.002, max_batch: int = 128) -> None:
        self.target = target
        self.users_batches: Hydrator[str, uuid.UUID, User] = Hydrator(
            self._load_users, window=window, max_batch=max_batch, name="users"
        )
        self.relations_batches: Hydrator[_RelScope, uuid.UUID, Relation] = Hydrator(
            self._load_relations, window=window, max_batch=max_batch, name="relations"
        )

    async def _call(
        self, actor: Actor, method: str, request: Message, reply: type[R], *, idempotent: bool
    ) -> R:
        return await self.target.call(method, request, reply, actor, idempotent=idempotent)

    # -- hydration, coalesced across concurrent requests -----------------------------------

    async def get_users(self, actor: Actor, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        """See :meth:`~nova.users.client.UsersClient.get_users`."""
        # Profiles depend on the tenant only, so all requests of a tenant share batches.
        return await self.users_batches.get_many(actor, actor.tenant_id, ids)

    async def _load_users(
        self, actor: Actor, _tenant: str, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, User]:
        request = pb.IdsRequest(ids=[str(i) for i in ids])
        reply = await self._call(actor, "GetUsers", request, pb.UsersById, idempotent=True)
        return {uid(k, field="ids"): wire.user_from_pb(v) for k, v in reply.users.items()}

    async def relations(
        self, actor: Actor, *, viewer_id: uuid.UUID, other_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Relation]:
        """See :meth:`~nova.users.client.UsersClient.relations`."""
        scope = (actor.tenant_id, actor.user_id, viewer_id)
        return await self.relations_batches.get_many(actor, scope, other_ids)

    async def _load_relations(
        self, actor: Actor, scope: _RelScope, other_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Relation]:
        request = pb.RelationsRequest(
            viewer_id=str(scope[2]), other_ids=[str(i) for i in other_ids]
        )
        reply = await self._call(actor, "Relations", request, pb.RelationsById, idempotent=True)
        return {uid(k, field="ids"): wire.relation_from_pb(v) for k, v in reply.relations.items()}

    # -- reads -----------------------------------------------------------------------------

    async def hidden_author_ids(self, actor: Actor, viewer_id: uuid.UUID) -> frozenset[uuid.UUID]:
        """See :meth:`~nova.users.client.UsersClient.hidden_author_ids`."""
        request = pb.UserIdRequest(user_id=str(viewer_id))
        reply = await self._call(actor, "HiddenAuthorIds", request, pb.IdList, idempotent=True)
        return frozenset(_ids(reply.ids))

    async def followee_ids(self, actor: Actor, user_id: uuid.UUID) -> list[uuid.UUID]:
        """See :meth:`~nova.users.client.UsersClient.followee_ids`."""
        request = pb.UserIdRequest(user_id=str(user_id))
        reply = await self._call(actor, "FolloweeIds", request, pb.IdList, idempotent=True)
        return _ids(reply.ids)

    async def active_follower_ids(
        self,
        actor: Actor,
        author_id: uuid.UUID,
        *,
        active_since: dt.datetime,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[uuid.UUID]:
        """See :meth:`~nova.users.client.UsersClient.active_follower_ids`."""
        request = pb.ActiveFollowersRequest(
            author_id=str(author_id), active_since=timestamp(active_since), limit=limit
        )
        if after is not None:
            request.after = str(after)
        reply = await self._call(actor, "ActiveFollowerIds", request, pb.IdList, idempotent=True)
        return _ids(reply.ids)

    async def follower_count(self, actor: Actor, user_id: uuid.UUID) -> int:
        """See :meth:`~nova.users.client.UsersClient.follower_count`."""
        request = pb.UserIdRequest(user_id=str(user_id))
        reply = await self._call(actor, "FollowerCount", request, pb.Count, idempotent=True)
        return reply.count

    async def get_preferences(self, actor: Actor, user_id: uuid.UUID) -> Preferences:
        """See :meth:`~nova.users.client.UsersClient.get_preferences`."""
        request = pb.UserIdRequest(user_id=str(user_id))
        reply = await self._call(actor, "GetPreferences", request, pb.Preferences, idempotent=True)
        return wire.preferences_from_pb(reply)

    async def authenticate(self, actor: Actor, *, access_token: str) -> AccessClaims:
        """Verify an access token."""
        request = pb.AuthenticateRequest(access_token=access_token)
        reply = await self._call(actor, "Authenticate", request, pb.AccessClaims, idempotent=True)
        return wire.claims_from_pb(reply)

    async def get_by_username(self, actor: Actor, *, username: str) -> User:
        """A profile by username."""
        request = pb.UsernameRequest(username=username)
        return wire.user_from_pb(
            await self._call(actor, "GetByUsername", request, pb.User, idempotent=True)
        )

    async def search_users(self, actor: Actor, *, prefix: str, limit: int = 10) -> list[User]:
        """Users whose username starts with ``prefix``."""
        request = pb.SearchRequest(prefix=prefix, limit=limit)
        reply = await self._call(actor, "SearchUsers", request, pb.UserList, idempotent=True)
        return [wire.user_from_pb(u) for u in reply.users]

    async def list_followers(
        self, actor: Actor, *, user_id: uuid.UUID, after: str | None = None, limit: int = 20
    ) -> Page[User]:
        """A page of a user's followers."""
        return await self._list(actor, "ListFollowers", user_id, after, limit)

    async def list_following(
        self, actor: Actor, *, user_id: uuid.UUID, after: str | None = None, limit: int = 20
    ) -> Page[User]:
        """A page of the users someone follows."""
        return await self._list(actor, "ListFollowing", user_id, after, limit)

    async def _list(
        self, actor: Actor, method: str, user_id: uuid.UUID, after: str | None, limit: int
    ) -> Page[User]:
        request = pb.ListUsersRequest(user_id=str(user_id), after=after, limit=limit)
        return wire.page_from_pb(
            await self._call(actor, method, request, pb.UserPage, idempotent=True)
        )

    async def list_follow_requests(
        self, actor: Actor, *, after: str | None = None, limit: int = 20
    ) -> Page[User]:
        """A page of pending requests to follow the caller."""
        request = pb.PageRequest(after=after, limit=limit)
        return wire.page_from_pb(
            await self._call(actor, "ListFollowRequests", request, pb.UserPage, idempotent=True)
        )

    # -- accounts --------------------------------------------------------------------------

    async def register(
        self,
        actor: Actor,
        *,
        username: str,
        email: str,
        password: str,
        display_name: str | None = None,
    ) -> User:
        """Create an account (not retried: a lost reply must not become ``USERNAME_TAKEN``)."""
        request = pb.RegisterRequest(
            username=username, email=email, password=password, display_name=display_name
        )
        return wire.user_from_pb(
            await self._call(actor, "Register", request, pb.User, idempotent=False)
        )

    async def login(self, actor: Actor, *, username_or_email: str, password: str) -> TokenPair:
        """Exchange credentials for tokens."""
        request = pb.LoginRequest(username_or_email=username_or_email, password=password)
        reply = await self._call(actor, "Login", request, pb.TokenPair, idempotent=False)
        return wire.tokens_from_pb(reply)

    async def refresh(self, actor: Actor, *, refresh_token: str) -> TokenPair:
        """Exchange a refresh token for a new pair (single use: never retried)."""
        request = pb.RefreshTokenRequest(refresh_token=refresh_token)
        reply = await self._call(actor, "Refresh", request, pb.TokenPair, idempotent=False)
        return wire.tokens_from_pb(reply)

    async def logout(self, actor: Actor, *, refresh_token: str) -> None:
        """Revoke a refresh token (revoking twice is harmless)."""
        request = pb.RefreshTokenRequest(refresh_token=refresh_token)
        await self._call(actor, "Logout", request, Empty, idempotent=True)

    async def touch_last_active(self, actor: Actor) -> None:
        """Record that the caller is active."""
        await self._call(actor, "TouchLastActive", Empty(), Empty, idempotent=True)

    # -- profiles --------------------------------------------------------------------------

    async def update_profile(
        self,
        actor: Actor,
        *,
        display_name: str | Unset = Unset.UNSET,
        bio: str | Unset = Unset.UNSET,
        is_private: bool | Unset = Unset.UNSET,
    ) -> User:
        """Change the caller's profile."""
        request = pb.UpdateProfileRequest()
        if not isinstance(display_name, Unset):
            request.display_name = display_name
        if not isinstance(bio, Unset):
            request.bio = bio
        if not isinstance(is_private, Unset):
            request.is_private = is_private
        return wire.user_from_pb(
            await self._call(actor, "UpdateProfile", request, pb.User, idempotent=False)
        )

    async def update_preferences(
        self, actor: Actor, *, changes: Mapping[str, object]
    ) -> Preferences:
        """Change some of the caller's preferences (setting values again is harmless)."""
        struct = json_format.ParseDict(dict(changes), Struct())
        request = pb.UpdatePreferencesRequest(changes=struct)
        reply = await self._call(
            actor, "UpdatePreferences", request, pb.Preferences, idempotent=True
        )
        return wire.preferences_from_pb(reply)

    # -- graph -----------------------------------------------------------------------------

    async def follow(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> FollowState:
        """Follow (or request to follow) a user; following twice changes nothing."""
        request = pb.TargetRequest(target_id=str(target_id), idempotency_key=idempotency_key)
        reply = await self._call(actor, "Follow", request, pb.FollowResponse, idempotent=True)
        return FollowState(reply.state)

    async def unfollow(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Stop following, or withdraw a request."""
        await self._target(actor, "Unfollow", target_id, idempotency_key)

    async def block(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Block a user."""
        await self._target(actor, "Block", target_id, idempotency_key)

    async def unblock(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Unblock a user."""
        await self._target(actor, "Unblock", target_id, idempotency_key)

    async def mute(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Mute a user."""
        await self._target(actor, "Mute", target_id, idempotency_key)

    async def unmute(
        self, actor: Actor, *, target_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        """Unmute a user."""
        await self._target(actor, "Unmute", target_id, idempotency_key)

    async def _target(
        self, actor: Actor, method: str, target_id: uuid.UUID, idempotency_key: str | None
    ) -> None:
        # Set-like: a second block/mute/unfollow of the same pair is a no-op, so retrying an
        # UNAVAILABLE cannot duplicate an effect.
        request = pb.TargetRequest(target_id=str(target_id), idempotency_key=idempotency_key)
        await self._call(actor, method, request, Empty, idempotent=True)

    async def approve_follow_request(self, actor: Actor, *, requester_id: uuid.UUID) -> None:
        """Accept a pending follow request."""
        request = pb.RequesterRequest(requester_id=str(requester_id))
        await self._call(actor, "ApproveFollowRequest", request, Empty, idempotent=False)

    async def reject_follow_request(self, actor: Actor, *, requester_id: uuid.UUID) -> None:
        """Decline a pending follow request."""
        request = pb.RequesterRequest(requester_id=str(requester_id))
        await self._call(actor, "RejectFollowRequest", request, Empty, idempotent=False)
