"""The Redis Bloom filter: no false negatives, and the measured rate matches the configured."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from nova.platform.events import BloomFilter, BloomPolicy
from nova.platform.events.bloom_bench import measure

if TYPE_CHECKING:
    import redis.asyncio as aioredis

pytestmark = pytest.mark.integration


async def test_an_added_item_is_always_maybe_seen_across_a_rotation(
    redis_client: aioredis.Redis, key_prefix: str
) -> None:
    now = [1_000_000.0]
    bloom = BloomFilter(
        redis_client,
        name=f"{key_prefix}b",
        policy=BloomPolicy(capacity=100, error_rate=0.01, rotation=60),
        clock=lambda: now[0],
    )
    items = [os.urandom(16) for _ in range(100)]
    await bloom.add(items)
    now[0] += 60  # next window: the previous one is still consulted

    assert all(await bloom.maybe_contains(items))
    now[0] += 60  # two windows later: forgotten (the exact store still knows)
    assert not any(await bloom.maybe_contains(items))


@pytest.mark.parametrize(
    ("capacity", "probes"),
    [(20_000, 100_000), pytest.param(100_000, 1_000_000, marks=pytest.mark.slow)],
)
async def test_measured_false_positive_rate_is_within_10_percent_of_configured(
    redis_client: aioredis.Redis, key_prefix: str, capacity: int, probes: int
) -> None:
    policy = BloomPolicy(capacity=capacity, error_rate=0.01)

    result = await measure(redis_client, policy=policy, probes=probes, name=f"{key_prefix}fp")

    assert abs(result.measured_rate / policy.error_rate - 1) <= 0.10, result.measured_rate
