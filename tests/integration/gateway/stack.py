"""The whole in-process stack behind the GraphQL endpoint, for gateway tests."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from typing import TYPE_CHECKING, Any, cast

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from nova.gateway.context import Services
from nova.gateway.http import build_graphql_app
from nova.gateway.relay import to_global_id
from nova.platform.context import Actor
from nova.users.client import LocalUsersClient
from nova.users.security import AccessTokens
from tests.integration.feed.stack import Stack, build_stack

if TYPE_CHECKING:
    import collections

    import redis.asyncio as aioredis

    from nova.content.client import ContentClient
    from nova.feed.client import FeedClient
    from nova.gateway.limits import GatewayPolicy
    from nova.gateway.ports import UsersApi
    from nova.platform.config import Settings
    from nova.platform.db import Database

TENANT = "default"
PASSWORD = "correct horse battery staple"
_names = itertools.count()


# The gateway's users port is the in-process client itself.
UsersFacade = LocalUsersClient


@dataclasses.dataclass
class Person:
    """A registered user with a valid access token."""

    id: uuid.UUID
    username: str
    token: str

    @property
    def gid(self) -> str:
        """The user's global id."""
        return to_global_id("User", self.id)

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header for this user."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclasses.dataclass
class GatewayStack:
    """Services, the ASGI app and helpers to seed data."""

    stack: Stack
    services: Services
    app: Starlette
    tokens: AccessTokens

    @property
    def db(self) -> Database:
        """The database (``stats.statements`` counts SQL)."""
        return self.stack.db

    async def person(self, name: str | None = None) -> Person:
        """Register a user through the service and sign a token for them."""
        username = name or f"gw_{next(_names)}_{uuid.uuid4().hex[:6]}"
        user = await self.stack.users_service.register(
            Actor.anonymous(tenant_id=TENANT),
            username=username,
            email=f"{username}@example.com",
            password=PASSWORD,
        )
        token = self.tokens.issue(user_id=user.id, tenant_id=TENANT)
        return Person(id=user.id, username=username, token=token)

    async def post(self, author: Person, body: str = "hello") -> uuid.UUID:
        """Publish a post as ``author``; returns its id."""
        post = await self.stack.content.publish_post(
            Actor.user(author.id, tenant_id=TENANT), body=body
        )
        return post.id


def build_gateway(
    *,
    db: Database,
    redis: aioredis.Redis,
    settings: Settings,
    policy: GatewayPolicy | None = None,
) -> GatewayStack:
    """Wire every service in-process and route ``/graphql`` to the GraphQL endpoint."""
    stack = build_stack(db=db, redis=redis, settings=settings)
    users = UsersFacade(stack.users_service)
    services = Services(users=users, content=stack.content, feed=stack.feed)
    graphql = build_graphql_app(settings, services, redis=redis, policy=policy)
    app = Starlette(routes=[Route("/graphql", graphql)])
    tokens = AccessTokens(
        secret=settings.secret_key.get_secret_value(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=settings.access_token_ttl,
    )
    return GatewayStack(stack=stack, services=services, app=app, tokens=tokens)


class Counted:
    """Forwards to ``target``, counting each method call as ``<label>.<method>``."""

    def __init__(self, target: object, calls: collections.Counter[str], label: str) -> None:
        self._target = target
        self._calls = calls
        self._label = label

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[f"{self._label}.{name}"] += 1
            return attribute(*args, **kwargs)

        return counted


def counted_services(services: Services, calls: collections.Counter[str]) -> Services:
    """``services`` with every client call counted in ``calls``."""
    return Services(
        users=cast("UsersApi", Counted(services.users, calls, "users")),
        content=cast("ContentClient", Counted(services.content, calls, "content")),
        feed=cast("FeedClient", Counted(services.feed, calls, "feed")),
    )


def client_for(app: Any, base_url: str = "http://test") -> httpx.AsyncClient:
    """An httpx client speaking to ``app`` in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    person: Person | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST one operation to ``/graphql/``."""
    sent = {**(person.auth if person is not None else {}), **(headers or {})}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return await client.post("/graphql", json=body, headers=sent)
