"""The users gRPC servicer: parse the message, call one use case, return its message.

Errors need no code here: :mod:`nova.platform.rpc.server` maps every
:class:`~nova.platform.errors.NovaError` to its status and trailer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf import json_format
from google.protobuf.empty_pb2 import Empty

from nova.pb import users_pb2 as pb
from nova.platform.rpc import Method, ServiceDef
from nova.platform.rpc.wire import from_timestamp, opt_uid, uid, uids
from nova.users import wire
from nova.users.domain import Unset

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from nova.platform.context import Actor
    from nova.users.service import UsersService

__all__ = ["SERVICE_NAME", "service_def"]

#: Full gRPC name of the users service.
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["UsersService"].full_name


def _opt(message: Message, name: str) -> str | None:
    """An optional string field: None when absent (proto3 ``optional`` has presence)."""
    return str(getattr(message, name)) if message.HasField(name) else None


class _Servicer:
    """One handler per RPC, each calling one use case of the users service."""

    def __init__(self, svc: UsersService) -> None:
        self._svc = svc

    async def get_users(self, actor: Actor, req: pb.IdsRequest) -> pb.UsersById:
        users = await self._svc.get_users(actor, ids=uids(req.ids, field="ids"))
        return pb.UsersById(users={str(k): wire.user_to_pb(v) for k, v in users.items()})

    async def relations(self, actor: Actor, req: pb.RelationsRequest) -> pb.RelationsById:
        found = await self._svc.relations(
            actor,
            viewer_id=uid(req.viewer_id, field="viewerId"),
            other_ids=uids(req.other_ids, field="otherIds"),
        )
        return pb.RelationsById(
            relations={str(k): wire.relation_to_pb(v) for k, v in found.items()}
        )

    async def hidden_author_ids(self, actor: Actor, req: pb.UserIdRequest) -> pb.IdList:
        hidden = await self._svc.hidden_author_ids(
            actor, viewer_id=uid(req.user_id, field="userId")
        )
        return pb.IdList(ids=sorted(str(i) for i in hidden))

    async def followee_ids(self, actor: Actor, req: pb.UserIdRequest) -> pb.IdList:
        ids = await self._svc.followee_ids(actor, user_id=uid(req.user_id, field="userId"))
        return pb.IdList(ids=[str(i) for i in ids])

    async def active_follower_ids(self, actor: Actor, req: pb.ActiveFollowersRequest) -> pb.IdList:
        ids = await self._svc.active_follower_ids(
            actor,
            author_id=uid(req.author_id, field="authorId"),
            active_since=from_timestamp(req.active_since),
            after=opt_uid(_opt(req, "after"), field="after"),
            limit=req.limit,
        )
        return pb.IdList(ids=[str(i) for i in ids])

    async def follower_count(self, actor: Actor, req: pb.UserIdRequest) -> pb.Count:
        count = await self._svc.follower_count(actor, user_id=uid(req.user_id, field="userId"))
        return pb.Count(count=count)

    async def get_preferences(self, actor: Actor, req: pb.UserIdRequest) -> pb.Preferences:
        prefs = await self._svc.get_preferences(actor, user_id=uid(req.user_id, field="userId"))
        return wire.preferences_to_pb(prefs)

    async def register(self, actor: Actor, req: pb.RegisterRequest) -> pb.User:
        user = await self._svc.register(
            actor,
            username=req.username,
            email=req.email,
            password=req.password,
            display_name=_opt(req, "display_name"),
        )
        return wire.user_to_pb(user)

    async def login(self, actor: Actor, req: pb.LoginRequest) -> pb.TokenPair:
        pair = await self._svc.login(
            actor, username_or_email=req.username_or_email, password=req.password
        )
        return wire.tokens_to_pb(pair)

    async def refresh(self, actor: Actor, req: pb.RefreshTokenRequest) -> pb.TokenPair:
        return wire.tokens_to_pb(await self._svc.refresh(actor, refresh_token=req.refresh_token))

    async def logout(self, actor: Actor, req: pb.RefreshTokenRequest) -> Empty:
        await self._svc.logout(actor, refresh_token=req.refresh_token)
        return Empty()

    async def authenticate(self, actor: Actor, req: pb.AuthenticateRequest) -> pb.AccessClaims:
        return wire.claims_to_pb(await self._svc.authenticate(actor, access_token=req.access_token))

    async def touch_last_active(self, actor: Actor, _req: Empty) -> Empty:
        await self._svc.touch_last_active(actor)
        return Empty()

    async def get_by_username(self, actor: Actor, req: pb.UsernameRequest) -> pb.User:
        return wire.user_to_pb(await self._svc.get_by_username(actor, username=req.username))

    async def search_users(self, actor: Actor, req: pb.SearchRequest) -> pb.UserList:
        users = await self._svc.search_users(actor, prefix=req.prefix, limit=req.limit)
        return pb.UserList(users=[wire.user_to_pb(u) for u in users])

    async def update_profile(self, actor: Actor, req: pb.UpdateProfileRequest) -> pb.User:
        user = await self._svc.update_profile(
            actor,
            display_name=req.display_name if req.HasField("display_name") else Unset.UNSET,
            bio=req.bio if req.HasField("bio") else Unset.UNSET,
            is_private=req.is_private if req.HasField("is_private") else Unset.UNSET,
        )
        return wire.user_to_pb(user)

    async def update_preferences(
        self, actor: Actor, req: pb.UpdatePreferencesRequest
    ) -> pb.Preferences:
        changes = json_format.MessageToDict(req.changes)
        return wire.preferences_to_pb(await self._svc.update_preferences(actor, changes=changes))

    async def follow(self, actor: Actor, req: pb.TargetRequest) -> pb.FollowResponse:
        state = await self._svc.follow(
            actor,
            target_id=uid(req.target_id, field="userId"),
            idempotency_key=_opt(req, "idempotency_key"),
        )
        return pb.FollowResponse(state=str(state))

    def targeted(self, name: str) -> Method[pb.TargetRequest]:
        use_case = getattr(self._svc, name)

        async def handle(actor: Actor, req: pb.TargetRequest) -> Empty:
            await use_case(
                actor,
                target_id=uid(req.target_id, field="userId"),
                idempotency_key=_opt(req, "idempotency_key"),
            )
            return Empty()

        return Method(_camel(name), pb.TargetRequest, handle)

    def requester(self, name: str) -> Method[pb.RequesterRequest]:
        use_case = getattr(self._svc, name)

        async def handle(actor: Actor, req: pb.RequesterRequest) -> Empty:
            await use_case(actor, requester_id=uid(req.requester_id, field="userId"))
            return Empty()

        return Method(_camel(name), pb.RequesterRequest, handle)

    def listing(self, name: str) -> Method[pb.ListUsersRequest]:
        use_case = getattr(self._svc, name)

        async def handle(actor: Actor, req: pb.ListUsersRequest) -> pb.UserPage:
            page = await use_case(
                actor,
                user_id=uid(req.user_id, field="userId"),
                after=_opt(req, "after"),
                limit=req.limit,
            )
            return wire.page_to_pb(page)

        return Method(_camel(name), pb.ListUsersRequest, handle)

    async def list_follow_requests(self, actor: Actor, req: pb.PageRequest) -> pb.UserPage:
        page = await self._svc.list_follow_requests(
            actor, after=_opt(req, "after"), limit=req.limit
        )
        return wire.page_to_pb(page)

    def definition(self) -> ServiceDef:
        """The method table."""
        return ServiceDef(
            SERVICE_NAME,
            [
                Method("GetUsers", pb.IdsRequest, self.get_users),
                Method("Relations", pb.RelationsRequest, self.relations),
                Method("HiddenAuthorIds", pb.UserIdRequest, self.hidden_author_ids),
                Method("FolloweeIds", pb.UserIdRequest, self.followee_ids),
                Method("ActiveFollowerIds", pb.ActiveFollowersRequest, self.active_follower_ids),
                Method("FollowerCount", pb.UserIdRequest, self.follower_count),
                Method("GetPreferences", pb.UserIdRequest, self.get_preferences),
                Method("Register", pb.RegisterRequest, self.register),
                Method("Login", pb.LoginRequest, self.login),
                Method("Refresh", pb.RefreshTokenRequest, self.refresh),
                Method("Logout", pb.RefreshTokenRequest, self.logout),
                Method("Authenticate", pb.AuthenticateRequest, self.authenticate),
                Method("TouchLastActive", Empty, self.touch_last_active),
                Method("GetByUsername", pb.UsernameRequest, self.get_by_username),
                Method("SearchUsers", pb.SearchRequest, self.search_users),
                Method("UpdateProfile", pb.UpdateProfileRequest, self.update_profile),
                Method("UpdatePreferences", pb.UpdatePreferencesRequest, self.update_preferences),
                Method("Follow", pb.TargetRequest, self.follow),
                *(self.targeted(n) for n in ("unfollow", "block", "unblock", "mute", "unmute")),
                *(self.requester(n) for n in ("approve_follow_request", "reject_follow_request")),
                *(self.listing(n) for n in ("list_followers", "list_following")),
                Method("ListFollowRequests", pb.PageRequest, self.list_follow_requests),
            ],
        )


def service_def(svc: UsersService) -> ServiceDef:
    """The users RPCs, each calling one use case of ``svc``."""
    return _Servicer(svc).definition()


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
