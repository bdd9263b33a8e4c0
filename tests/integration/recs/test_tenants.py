"""The schedule's tenants: every tenant with recent likes or comments, busiest first."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.integration.recs.test_recs import service

if TYPE_CHECKING:
    from nova.platform.analytics import ChdbClickHouse
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration


def _engagement(tenant: str, event_type: str, *, hours_ago: float) -> dict[str, str]:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "event_type": event_type,
        "post_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "author_id": str(uuid.uuid4()),
        "occurred_at": when.strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


async def test_active_tenants_are_the_recently_engaged_ones_busiest_first(
    stack: Stack, clickhouse: ChdbClickHouse
) -> None:
    rows = [
        *(_engagement("acme", "Liked", hours_ago=1) for _ in range(3)),
        _engagement("default", "Commented", hours_ago=2),
        *(_engagement("stale", "Liked", hours_ago=30) for _ in range(5)),  # outside the day
        _engagement("quiet", "PostPublished", hours_ago=1),  # publishing is not engaging
    ]
    await clickhouse.insert("engagement_events", rows)
    recs = service(stack, clickhouse)

    assert await recs.active_tenants(days=1.0) == ["acme", "default"]
    assert await recs.active_tenants(days=2.0) == ["stale", "acme", "default"]
    assert await recs.active_tenants(days=2.0, limit=1) == ["stale"]
