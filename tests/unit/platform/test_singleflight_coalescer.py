from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from nova.platform.resilience import Coalescer, Singleflight

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


async def test_singleflight_runs_identical_loads_once() -> None:
    calls = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 7

    flights: Singleflight[str, int] = Singleflight()
    tasks = [asyncio.create_task(flights.do("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*tasks) == [7] * 5
    assert calls == 1
    assert not flights.in_flight("k")


async def test_cancelling_the_first_caller_does_not_fail_the_others() -> None:
    release = asyncio.Event()
    finished = False

    async def load() -> int:
        nonlocal finished
        await release.wait()
        finished = True
        return 42

    flights: Singleflight[str, int] = Singleflight()
    first = asyncio.create_task(flights.do("k", load))
    await asyncio.sleep(0)
    second = asyncio.create_task(flights.do("k", load))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    release.set()
    assert await second == 42
    assert finished


async def test_shared_work_cancelled_only_when_every_waiter_left() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def load() -> int:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    flights: Singleflight[str, int] = Singleflight()
    a = asyncio.create_task(flights.do("k", load))
    b = asyncio.create_task(flights.do("k", load))
    await started.wait()
    a.cancel()
    await asyncio.sleep(0.01)
    assert not cancelled.is_set()
    b.cancel()
    await asyncio.sleep(0.01)
    assert cancelled.is_set()
    assert not flights.in_flight("k")
    for task in (a, b):
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_singleflight_shares_a_failure_then_retries() -> None:
    attempts = 0

    async def load() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        if attempts == 1:
            raise RuntimeError("first fails")
        return 2

    flights: Singleflight[str, int] = Singleflight()
    results = await asyncio.gather(
        flights.do("k", load), flights.do("k", load), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await flights.do("k", load) == 2


class Loader:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.cancelled = False

    def was_cancelled(self) -> bool:
        return self.cancelled

    async def __call__(self, keys: Sequence[int]) -> Mapping[int, str | Exception]:
        self.batches.append(list(keys))
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        out: dict[int, str | Exception] = {}
        for key in keys:
            if key == 13:
                out[key] = LookupError("unlucky")
            elif key != 404:
                out[key] = f"v{key}"
        return out


async def test_coalescer_batches_and_keeps_errors_per_key() -> None:
    loader = Loader()
    coalescer: Coalescer[int, str] = Coalescer(loader, window=0.005)
    results = await asyncio.gather(
        coalescer.get(1),
        coalescer.get(2),
        coalescer.get(2),
        coalescer.get(13),
        coalescer.get(404),
        return_exceptions=True,
    )
    assert list(results[:3]) == ["v1", "v2", "v2"]
    assert isinstance(results[3], LookupError)
    assert isinstance(results[4], KeyError)
    assert loader.batches == [[1, 2, 13, 404]]


async def test_coalescer_dispatches_at_max_batch() -> None:
    loader = Loader()
    coalescer: Coalescer[int, str] = Coalescer(loader, window=10, max_batch=3)
    assert await asyncio.gather(*(coalescer.get(i) for i in range(6))) == [
        f"v{i}" for i in range(6)
    ]
    assert loader.batches == [[0, 1, 2], [3, 4, 5]]


async def test_coalescer_batch_failure_reaches_every_caller() -> None:
    async def broken(keys: Sequence[int]) -> Mapping[int, str | Exception]:
        raise ConnectionError("down")

    coalescer: Coalescer[int, str] = Coalescer(broken, window=0.001)
    results = await asyncio.gather(coalescer.get(1), coalescer.get(2), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_cancelled_caller_before_dispatch_drops_its_key_only() -> None:
    loader = Loader()
    coalescer: Coalescer[int, str] = Coalescer(loader, window=0.01)
    gone = asyncio.create_task(coalescer.get(1))
    stays = asyncio.create_task(coalescer.get(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await stays == "v2"
    assert loader.batches == [[2]]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_running_batch_survives_one_cancel_and_stops_when_all_leave() -> None:
    loader = Loader(delay=0.05)
    coalescer: Coalescer[int, str] = Coalescer(loader, window=0.001)
    a = asyncio.create_task(coalescer.get(1))
    b = asyncio.create_task(coalescer.get(1))
    await asyncio.sleep(0.01)  # the batch is running
    a.cancel()
    assert await b == "v1"
    assert not loader.cancelled

    c = asyncio.create_task(coalescer.get(5))
    d = asyncio.create_task(coalescer.get(6))
    await asyncio.sleep(0.01)
    c.cancel()
    d.cancel()
    await asyncio.sleep(0.01)
    assert loader.was_cancelled()
    for task in (a, c, d):
        with pytest.raises(asyncio.CancelledError):
            await task
