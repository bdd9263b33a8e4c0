"""A users service without a database, for transport-level tests: delays and errors on demand."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from nova.pb import users_pb2 as pb
from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.rpc import Method, ServiceDef
from nova.platform.rpc.server import current_peer
from nova.platform.rpc.wire import uids
from nova.users.api import SERVICE_NAME


@dataclasses.dataclass
class FakeUsers:
    """Answers GetUsers after ``delay`` seconds; records callers and peers.

    The next ``unavailable`` GetUsers calls fail with UNAVAILABLE (an overloaded replica).
    """

    delay: float = 0.0
    unavailable: int = 0
    calls: int = 0
    actors: list[Actor] = dataclasses.field(default_factory=list)
    #: Client address -> (first, last) monotonic time a call arrived on that connection.
    peers: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    async def get_users(self, actor: Actor, req: pb.IdsRequest) -> pb.UsersById:
        self.calls += 1
        self.actors.append(actor)
        now, peer = time.monotonic(), current_peer() or "?"
        self.peers[peer] = (self.peers.get(peer, (now, now))[0], now)
        if self.unavailable > 0:
            self.unavailable -= 1
            raise errors.UnavailableError("overloaded, try another replica", retry_after=0.01)
        ids = uids(req.ids, field="ids")
        await asyncio.sleep(self.delay)
        return pb.UsersById(users={str(i): pb.User(id=str(i), username="u") for i in ids})

    async def follower_count(self, _actor: Actor, req: pb.UserIdRequest) -> pb.Count:
        raise errors.NotFoundError(f"no user {req.user_id}", field="userId")

    def definition(self) -> ServiceDef:
        """The fake's method table (a subset of the users contract)."""
        return ServiceDef(
            SERVICE_NAME,
            [
                Method("GetUsers", pb.IdsRequest, self.get_users),
                Method("FollowerCount", pb.UserIdRequest, self.follower_count),
            ],
        )
