"""A slow downstream service (RELIABILITY row 14): content answers 2 s late through the fault
proxy. The ``post`` field fails within its deadline + 50 ms with a typed error, the rest of
the response (``viewer``, from users) is served, other operations keep their latency, and
nothing is retried.

Content is slowed: it sits under both the gateway and the feed service, so its calls are the
deepest (``nova bench degraded`` measures the same fault under load).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from typing_extensions import override

from nova.content.api import SERVICE_NAME as CONTENT
from nova.content.grpc_client import GrpcContentClient
from nova.gateway.context import Services
from nova.gateway.http import build_graphql_app
from nova.gateway.relay import to_global_id
from nova.platform.rpc import ClientPolicy, RpcTarget
from nova.platform.testing.faultproxy import Fault, FaultProxy
from tests.integration.gateway.stack import build_gateway, client_for, gql
from tests.integration.rpc.wiring import grpc_wiring

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    import httpx
    import redis.asyncio as aioredis

    from nova.content.domain import Post
    from nova.platform.config import Settings
    from nova.platform.context import Actor
    from nova.platform.db import Database
    from tests.integration.gateway.stack import Person

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)
DEADLINE = 0.5
BOTH = "query($p: ID!) { post(id: $p) { id } viewer { user { username } } }"
OTHER = "{ viewer { user { username } } }"


class _TimedContent(GrpcContentClient):
    """Records how long each ``get_posts`` (the ``post`` field's call) took to fail or answer."""

    def __init__(self, target: RpcTarget) -> None:
        super().__init__(target)
        self.durations: list[float] = []

    @override
    async def get_posts(self, actor: Actor, post_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Post]:
        started = time.perf_counter()
        try:
            return await super().get_posts(actor, post_ids)
        finally:
            self.durations.append(time.perf_counter() - started)


async def _p99(client: httpx.AsyncClient, person: Person, n: int = 100) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = await gql(client, OTHER, person=person)
        samples.append(time.perf_counter() - started)
        assert "data" in response.json(), response.json()
        assert response.json()["data"]["viewer"]["user"]["username"] == person.username
    return statistics.quantiles(samples, n=100)[98]


async def test_slow_content_fails_its_field_only(
    db: Database, redis_client: aioredis.Redis, settings: Settings
) -> None:
    local = build_gateway(db=db, redis=redis_client, settings=settings)
    person, other = await local.person(), await local.person()
    variables = {"p": to_global_id("Post", await local.post(person))}
    async with grpc_wiring(local.stack, nested=False) as wired:
        proxy = FaultProxy(upstream_port=wired.servers["content"].port, latency=2.0)
        async with proxy:
            target = RpcTarget(
                CONTENT,
                name="content",
                addresses=proxy.url_host_port,
                policy=ClientPolicy(caller="gateway", timeout=DEADLINE),
            )
            content = _TimedContent(target)
            services = Services(users=wired.users, content=content, feed=wired.feed)
            app = Starlette(
                routes=[
                    Route("/graphql", build_graphql_app(settings, services, redis=redis_client))
                ]
            )
            try:
                async with client_for(app) as client:
                    warm = await gql(
                        client, BOTH, variables, person=person
                    )  # connect before the fault
                    assert "errors" not in warm.json(), warm.json()
                    baseline = await _p99(client, person)
                    proxy.fault = Fault.LATENCY
                    content.durations.clear()
                    timings, bodies = [], []
                    for _ in range(5):
                        started = time.perf_counter()
                        reply = await gql(client, BOTH, variables, person=person)
                        timings.append(time.perf_counter() - started)
                        bodies.append(reply.json())
                    # A separate user: each has its own rate-limit burst (limits not under test).
                    slowed = await _p99(client, other)
            finally:
                await target.close()
                # Let the proxy deliver the chunks it is still delaying before it closes.
                proxy.fault = Fault.NONE
                await asyncio.sleep(2.2)
    body: dict[str, Any] = bodies[-1]
    logger.warning(
        "slow downstream: field's call failed after %s s, requests took %s s (deadline %.1f s); "
        "other p99 %.1f ms -> %.1f ms; retries %d",
        [round(x, 3) for x in content.durations], [round(x, 3) for x in timings], DEADLINE,
        baseline * 1e3, slowed * 1e3, target.retries,
    )  # fmt: skip
    assert body["data"]["viewer"]["user"]["username"] == person.username
    assert body["data"]["post"] is None
    [error] = body["errors"]
    assert error["path"] == ["post"]
    assert error["extensions"]["code"] == "UNAVAILABLE"
    # The field's own call: from its start to its typed error. (The whole request adds the
    # auth, rate-limit and activity work done before the field starts.)
    assert len(content.durations) == 5
    # Issue bound: deadline + 50 ms (logged above); CI asserts it with slack for a shared box.
    assert max(content.durations) <= DEADLINE + 0.25, content.durations
    assert target.retries == 0  # a deadline is never retried
    # Other operations never wait on the slow dependency: their p99 stays far below its
    # deadline. The +-20 % figure of the issue is measured and logged above, not asserted:
    # wall-clock ratios of 100 requests on a shared 2-core machine are too noisy to gate CI.
    assert slowed < DEADLINE / 2, (baseline, slowed)
