"""The recs service behind its gRPC contract: pages, reasons, the fallback and clicks cross the
wire unchanged, and domain errors keep their class."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.rpc import ClientPolicy, RpcTarget, ServerPolicy, start_server
from nova.recs import RecsSource
from nova.recs.api import SERVICE_NAME, service_def
from nova.recs.client import LocalRecsClient
from nova.recs.grpc_client import GrpcRecsClient
from tests.integration.feed.stack import TENANT, uid
from tests.integration.recs.test_recs import Counting, _outbox, service, world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.platform.analytics import ChdbClickHouse
    from nova.recs import RecsService
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def served(recs: RecsService) -> AsyncIterator[GrpcRecsClient]:
    """``recs`` on a loopback gRPC server, and a client of it."""
    server = await start_server(
        [service_def(LocalRecsClient(recs))], address="127.0.0.1:0", policy=ServerPolicy()
    )
    target = RpcTarget(
        SERVICE_NAME,
        name="recs",
        addresses=f"127.0.0.1:{server.port}",
        policy=ClientPolicy(caller="gateway", timeout=5.0),
    )
    try:
        yield GrpcRecsClient(target)
    finally:
        await target.close(None)
        await server.stop(0)


async def test_a_recommended_page_crosses_the_wire_unchanged(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    w = await world(stack, clickhouse)
    viewer = w["viewer"]
    recs = service(stack, clickhouse)
    assert await recs.precompute_active([uid(viewer)], tenant_id=TENANT) == (1, 0)
    local = await recs.recommended_feed(viewer, first=1)

    async with served(recs) as remote:
        page = await remote.recommended_feed(viewer, first=1)
        rest = await remote.recommended_feed(viewer, first=1, after=page.next_cursor)

    assert page.source is RecsSource.RECOMMENDED
    assert page == local  # posts, reasons with every score part, cursor and source
    assert page.items[0].reason is not None
    assert page.items[0].reason.sources == ("friends_engaged", "trending")
    assert [i.post.id for i in rest.items] == [w["friends_post"].id]


async def test_the_fallback_says_so_over_the_wire(stack: Stack, clickhouse: ChdbClickHouse) -> None:
    w = await world(stack, clickhouse)
    recs = service(stack, Counting(clickhouse, fail=True))
    home = await stack.feed.home_feed(w["viewer"], limit=10)

    async with served(recs) as remote:
        page = await remote.recommended_feed(w["viewer"], first=10)

    assert page.source is RecsSource.CHRONOLOGICAL_FALLBACK
    assert [i.post.id for i in page.items] == [p.id for p in home.items]
    assert w["friends_post"].id in {i.post.id for i in page.items}
    assert all(i.reason is None for i in page.items)


async def test_clicks_over_grpc_are_recorded_once_and_errors_keep_their_class(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    w = await world(stack, clickhouse)
    viewer = w["viewer"]
    recs = service(stack, clickhouse)

    async with served(recs) as remote:
        post_id = w["strangers_post"].id
        await remote.record_click(viewer, post_id=post_id, idempotency_key="grpc-k1")
        await remote.record_click(viewer, post_id=post_id, idempotency_key="grpc-k1")
        with pytest.raises(errors.NotFoundError):  # blocked author: the viewer may not see it
            await remote.record_click(viewer, post_id=w["blocked_post"].id)
        with pytest.raises(errors.UnauthenticatedError):
            await remote.record_click(Actor.anonymous(tenant_id=TENANT), post_id=post_id)

    clicks = [p for t, p in await _outbox(stack, viewer) if t == "RecommendationClicked"]
    assert [c["post_id"] for c in clicks] == [str(post_id)]
