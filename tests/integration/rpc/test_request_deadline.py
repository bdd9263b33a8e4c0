"""The gateway's request deadline bounds every gRPC call the request makes.

With ``request_timeout`` far below the clients' own per-call timeout and a users service that
never answers in time, the field fails with a typed error within about the request's budget,
and the downstream server sees a deadline no larger than that budget.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from nova.gateway.http import build_graphql_app
from nova.platform import resilience
from tests.integration.gateway.stack import client_for, gql
from tests.integration.rpc.wiring import POLICY, grpc_wiring

if TYPE_CHECKING:
    from nova.platform.config import Settings
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration

REQUEST_TIMEOUT = 0.3
SLOW = 3.0  # the downstream's delay: far beyond the request budget, within POLICY.timeout


async def test_grpc_call_gets_at_most_the_request_budget(stack: Stack, settings: Settings) -> None:
    assert POLICY.timeout > SLOW > REQUEST_TIMEOUT  # only the request deadline can cut it
    seen: list[float | None] = []

    async def slow_lookup(*_args: Any, **_kwargs: Any) -> Any:
        seen.append(resilience.remaining())  # the server's deadline, from the call's timeout
        await asyncio.sleep(SLOW)
        raise AssertionError("the call should have been cut by the request deadline")

    stack.users_service.get_by_username = slow_lookup  # type: ignore[method-assign]
    tight = settings.model_copy(update={"request_timeout": REQUEST_TIMEOUT})
    async with grpc_wiring(stack, nested=False) as wired:
        app = Starlette(routes=[Route("/graphql", build_graphql_app(tight, wired.services))])
        async with client_for(app) as client:
            started = time.monotonic()
            response = await gql(client, '{ __typename user(username: "slowpoke") { id } }')
            elapsed = time.monotonic() - started
    body = response.json()
    # The rest of the response is served; the slow field fails with a typed error.
    assert body["data"] == {"__typename": "Query", "user": None}
    assert len(body["errors"]) == 1
    assert body["errors"][0]["path"] == ["user"]
    assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert response.status_code == 503
    # Within the request budget (slack for a shared 2-core machine), not the 5 s call timeout.
    assert elapsed < REQUEST_TIMEOUT + 0.7, elapsed
    assert len(seen) == 1
    assert seen[0] is not None
    assert seen[0] <= REQUEST_TIMEOUT, seen
