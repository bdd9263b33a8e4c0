from __future__ import annotations

import asyncio

import pytest

from nova.platform.resilience import (
    Bulkhead,
    BulkheadFullError,
    DeadlineExceededError,
    deadline,
    remaining,
    timeout,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_no_deadline_means_the_cap() -> None:
    assert remaining() is None
    assert timeout(0.3) == 0.3


def test_deadline_shrinks_timeouts_and_nests_inward_only() -> None:
    clock = FakeClock()
    with deadline(2.0, clock=clock):
        assert timeout(5.0, clock=clock) == 2.0
        clock.now += 1.5
        assert timeout(5.0, clock=clock) == pytest.approx(0.5)
        with deadline(10.0, clock=clock):  # cannot extend the outer budget
            assert remaining(clock=clock) == pytest.approx(0.5)
        clock.now += 0.5
        with pytest.raises(DeadlineExceededError):
            timeout(1.0, clock=clock)
    assert remaining(clock=clock) is None


async def test_deadline_flows_into_spawned_tasks() -> None:
    clock = FakeClock()

    async def child() -> float | None:
        return remaining(clock=clock)

    with deadline(1.0, clock=clock):
        assert await asyncio.create_task(child()) == pytest.approx(1.0)


async def test_bulkhead_runs_limit_queues_bounded_and_rejects_the_rest() -> None:
    bulkhead = Bulkhead("dep", limit=2, queue=1, queue_timeout=1.0)
    release = asyncio.Event()
    outcomes: list[str] = []

    async def work() -> None:
        try:
            async with bulkhead.slot():
                await release.wait()
            outcomes.append("ok")
        except BulkheadFullError:
            outcomes.append("rejected")

    tasks = [asyncio.create_task(work()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert bulkhead.active == 2
    assert bulkhead.waiting == 1
    assert outcomes == ["rejected", "rejected"]
    release.set()
    await asyncio.gather(*tasks)
    assert outcomes.count("ok") == 3
    assert (bulkhead.active, bulkhead.waiting, bulkhead.rejected) == (0, 0, 2)


async def test_bulkhead_queue_timeout_rejects() -> None:
    bulkhead = Bulkhead("dep", limit=1, queue=1, queue_timeout=0.01)
    async with bulkhead.slot():
        with pytest.raises(BulkheadFullError):
            async with bulkhead.slot():
                pass
    assert bulkhead.waiting == 0
