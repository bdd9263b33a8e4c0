"""The precompute job: one run over the active users, and the schedule's loop."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import TYPE_CHECKING

from nova.platform.config import Environment, Settings
from nova.recs import jobs

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pytest

    from nova.content.client import Post
    from nova.platform.context import Actor
    from nova.recs.domain import RecsPage


class FakeRecs:
    """A :class:`~nova.recs.client.RecsJobs` that records the precompute calls.

    ``tenants`` maps each active tenant to its active users; a tenant listed in
    ``failing_tenants`` cannot list its users.
    """

    def __init__(
        self,
        users: list[uuid.UUID],
        *,
        fail: bool = False,
        tenants: dict[str, list[uuid.UUID]] | None = None,
        failing_tenants: frozenset[str] = frozenset(),
    ) -> None:
        self.users = users
        self.fail = fail
        self.tenants = tenants if tenants is not None else {"default": users}
        self.failing_tenants = failing_tenants
        self.calls: list[tuple[str, int, float | None]] = []

    async def active_tenants(self, *, days: float = 1.0, limit: int = 10_000) -> list[str]:
        if self.fail:
            raise ConnectionError("ClickHouse is down")
        return list(self.tenants)

    async def recommended_feed(
        self, actor: Actor, *, first: int = 20, after: str | None = None
    ) -> RecsPage[Post]:
        raise NotImplementedError

    async def record_click(
        self, actor: Actor, *, post_id: uuid.UUID, idempotency_key: str | None = None
    ) -> None:
        raise NotImplementedError

    async def active_users(
        self, tenant_id: str, *, days: float = 1.0, limit: int = 100_000
    ) -> list[uuid.UUID]:
        if self.fail or tenant_id in self.failing_tenants:
            raise ConnectionError("ClickHouse is down")
        return self.tenants.get(tenant_id, self.users)

    async def precompute_active(
        self,
        user_ids: Sequence[uuid.UUID],
        *,
        tenant_id: str,
        concurrency: int | None = None,
        jitter: float | None = None,
    ) -> tuple[int, int]:
        self.calls.append((tenant_id, len(user_ids), jitter))
        return len(user_ids) - 1, 1


async def test_precompute_tenant_reports_users_stored_and_failed() -> None:
    recs = FakeRecs([uuid.uuid4(), uuid.uuid4(), uuid.uuid4()])
    report = await jobs.precompute_tenant(recs, "t1", jitter=0)
    assert report == jobs.PrecomputeReport(tenant_id="t1", users=3, stored=2, failed=1)
    assert recs.calls == [("t1", 3, 0)]


def test_interval_is_half_the_cache_ttl() -> None:
    settings = Settings(environment=Environment.TEST, recs_cache_ttl=1800)
    assert jobs.interval(settings) == 900


async def test_schedule_repeats_survives_failures_and_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(environment=Environment.TEST, recs_cache_ttl=10)
    recs = FakeRecs([uuid.uuid4()], fail=True)
    stop = asyncio.Event()
    delays: list[float] = []

    async def no_wait(event: asyncio.Event, seconds: float) -> None:
        assert event is stop
        delays.append(seconds)
        if len(delays) == 2:
            recs.fail = False  # the first run failed; the loop went on
        if len(delays) == 4:
            stop.set()

    monkeypatch.setattr(jobs, "_wait", no_wait)
    await asyncio.wait_for(jobs.run_schedule(recs, settings, stop, rng=random.Random(1)), 5)
    assert all(4.5 <= d <= 5.5 for d in delays)  # 10 / 2 ± 10 %
    assert len(recs.calls) == 2  # runs 2 and 3; run 1 failed, the 4th wait saw stop


async def test_precompute_all_runs_every_active_tenant_and_skips_a_failing_one() -> None:
    users = {"big": [uuid.uuid4() for _ in range(3)], "broken": [uuid.uuid4()], "small": []}
    recs = FakeRecs([], tenants=users, failing_tenants=frozenset({"broken"}))

    reports = await jobs.precompute_all(recs, jitter=0)

    assert [r.tenant_id for r in reports] == ["big", "small"]  # in the order listed
    assert recs.calls == [("big", 3, 0), ("small", 0, 0)]  # one after another, none skipped


async def test_the_schedule_precomputes_every_active_tenant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(environment=Environment.TEST, recs_cache_ttl=10)
    tenants = {"default": [uuid.uuid4()], "acme": [uuid.uuid4(), uuid.uuid4()]}
    recs = FakeRecs([], tenants=tenants)
    stop = asyncio.Event()
    waits = 0

    async def no_wait(event: asyncio.Event, seconds: float) -> None:
        nonlocal waits
        waits += 1
        if waits == 2:
            stop.set()

    monkeypatch.setattr(jobs, "_wait", no_wait)
    await asyncio.wait_for(jobs.run_schedule(recs, settings, stop, rng=random.Random(1)), 5)
    assert sorted(t for t, _, _ in recs.calls) == ["acme", "default"]
