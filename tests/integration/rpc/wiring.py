"""The gRPC wiring inside the test's event loop: real servers on loopback, real clients.

:func:`grpc_wiring` serves users, content and feed from in-process gRPC servers on ephemeral
ports, wired exactly as ``nova up --processes`` wires its children (content and feed reach
users and content through gRPC clients), and yields the gateway's gRPC clients. Only the
process boundary is missing, which the subprocess tests cover.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING

from nova.content.api import SERVICE_NAME as CONTENT
from nova.content.api import service_def as content_def
from nova.content.client import LocalContentClient
from nova.content.grpc_client import GrpcContentClient
from nova.feed.api import SERVICE_NAME as FEED
from nova.feed.api import service_def as feed_def
from nova.feed.client import LocalFeedClient
from nova.feed.grpc_client import GrpcFeedClient
from nova.gateway.context import Services
from nova.platform.rpc import ClientPolicy, RpcServer, RpcTarget, ServerPolicy, start_server
from nova.users.api import SERVICE_NAME as USERS
from nova.users.api import service_def as users_def
from nova.users.grpc_client import GrpcUsersClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.integration.feed.stack import Stack

POLICY = ClientPolicy(caller="gateway", timeout=5.0)
SERVER_POLICY = ServerPolicy(reflection=True)


@dataclasses.dataclass
class GrpcWiring:
    """The servers and the gateway's clients."""

    users: GrpcUsersClient
    content: GrpcContentClient
    feed: GrpcFeedClient
    servers: dict[str, RpcServer]
    targets: list[RpcTarget]

    @property
    def services(self) -> Services:
        """The gateway's service clients."""
        return Services(users=self.users, content=self.content, feed=self.feed)

    def address(self, name: str) -> str:
        """``127.0.0.1:<port>`` of server ``name``."""
        return f"127.0.0.1:{self.servers[name].port}"


@contextlib.asynccontextmanager
async def grpc_wiring(
    stack: Stack, *, policy: ClientPolicy = POLICY, window: float = 0.002, nested: bool = True
) -> AsyncIterator[GrpcWiring]:
    """Serve ``stack``'s services over gRPC; yield gRPC clients of all three.

    Args:
        stack: The services to serve.
        policy: The clients' policy.
        window: Coalescing window of the clients.
        nested: Content and feed reach their peers over gRPC too (as separate processes do);
            False serves ``stack.content`` and ``stack.feed`` themselves, so a test that
            patches them sees its patch behind the gRPC boundary.
    """
    servers: dict[str, RpcServer] = {}
    targets: list[RpcTarget] = []

    def target(service: str, name: str) -> RpcTarget:
        made = RpcTarget(
            service, name=name, addresses=f"127.0.0.1:{servers[name].port}", policy=policy
        )
        targets.append(made)
        return made

    try:
        servers["users"] = await start_server(
            [users_def(stack.users_service)], address="127.0.0.1:0", policy=SERVER_POLICY
        )
        users = GrpcUsersClient(target(USERS, "users"), window=window)
        content_impl = (
            LocalContentClient.build(db=stack.db, users=users) if nested else stack.content
        )
        servers["content"] = await start_server(
            [content_def(content_impl)], address="127.0.0.1:0", policy=SERVER_POLICY
        )
        content = GrpcContentClient(target(CONTENT, "content"), window=window)
        feed_impl = (
            LocalFeedClient.build(
                db=stack.db,
                redis=stack.redis,
                users=users,
                content=content,
                settings=stack.settings,
            )
            if nested
            else stack.feed
        )
        servers["feed"] = await start_server(
            [feed_def(feed_impl)], address="127.0.0.1:0", policy=SERVER_POLICY
        )
        feed = GrpcFeedClient(target(FEED, "feed"))
        yield GrpcWiring(users, content, feed, servers, targets)
    finally:
        for made in targets:
            await made.close(None)
        for server in servers.values():
            await server.stop(0)
