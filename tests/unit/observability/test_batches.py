"""Coalescer batch sizes and singleflight sharing are observed per name."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

from nova.platform.context import Actor
from nova.platform.resilience import Coalescer, Singleflight
from nova.platform.rpc import Hydrator

if TYPE_CHECKING:
    from collections.abc import Sequence


def _count(family: str, name: str, le: str | None = None) -> float:
    labels = {"name": name} if le is None else {"name": name, "le": le}
    suffix = "_count" if le is None else "_bucket"
    return REGISTRY.get_sample_value(f"{family}{suffix}", labels) or 0.0


async def _double(keys: Sequence[int]) -> dict[int, int | Exception]:
    return {key: key * 2 for key in keys}


async def test_each_batch_observes_its_distinct_keys() -> None:
    coalescer: Coalescer[int, int] = Coalescer(_double, window=0.005, name="test.batches")
    before = _count("nova_coalescer_batch_size", "test.batches")
    small_before = _count("nova_coalescer_batch_size", "test.batches", le="4.0")

    values = await asyncio.gather(*(coalescer.get(key) for key in (1, 2, 3, 3, 4, 5, 6)))
    await coalescer.get(7)

    assert values == [2, 4, 6, 6, 8, 10, 12]
    assert coalescer.batches == 2
    assert _count("nova_coalescer_batch_size", "test.batches") == before + 2
    # Six distinct keys (3 asked twice) are over the 4 bucket; the lone key is within it.
    assert _count("nova_coalescer_batch_size", "test.batches", le="4.0") == small_before + 1
    assert _count("nova_coalescer_batch_size", "test.batches", le="8.0") == small_before + 2


async def test_a_hydrator_labels_its_coalescer() -> None:
    async def load(_actor: Actor, _scope: str, keys: Sequence[int]) -> dict[int, int]:
        return {key: key for key in keys}

    hydrator: Hydrator[str, int, int] = Hydrator(
        load, window=0.005, max_batch=100, name="test.hydrator"
    )
    before = _count("nova_coalescer_batch_size", "test.hydrator")
    actor = Actor.anonymous(tenant_id="t1", correlation_id="batches-0123456789")

    await asyncio.gather(
        hydrator.get_many(actor, "t1", [1, 2]), hydrator.get_many(actor, "t1", [3])
    )

    assert _count("nova_coalescer_batch_size", "test.hydrator") == before + 1
    assert hydrator.rpcs == 1


async def test_a_flight_observes_every_caller_that_shared_it() -> None:
    flights: Singleflight[str, int] = Singleflight(name="test.flights")
    before = _count("nova_singleflight_waiters", "test.flights")
    shared_before = _count("nova_singleflight_waiters", "test.flights", le="2.0")
    release = asyncio.Event()

    async def slow() -> int:
        await release.wait()
        return 42

    callers = [asyncio.create_task(flights.do("k", slow)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*callers)
    await flights.do("k", slow)  # alone this time: nothing shared

    assert results == [42] * 5
    assert _count("nova_singleflight_waiters", "test.flights") == before + 2
    # The lone call is within the 2 bucket; the five-caller flight is not.
    assert _count("nova_singleflight_waiters", "test.flights", le="2.0") == shared_before + 1
