r"""Measure the Bloom filter's false-positive rate at capacity against the configured one.

Fills a fresh filter in Redis with ``capacity`` random ids, probes ``probes`` other random ids
and reports measured vs configured rates. Run it against a Redis you own::

    python -m nova.platform.events.bloom_bench redis://127.0.0.1:6379/0 \\
        --capacity 100000 --error-rate 0.01 --probes 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import time
import uuid

import redis.asyncio as aioredis

from nova.platform.events.bloom import BloomFilter, BloomPolicy

__all__ = ["BenchResult", "measure"]

_BATCH = 2_000


@dataclasses.dataclass(frozen=True, slots=True)
class BenchResult:
    """What one run measured."""

    policy: BloomPolicy
    probes: int
    false_positives: int
    seconds: float

    @property
    def measured_rate(self) -> float:
        """False positives per probe."""
        return self.false_positives / self.probes


async def measure(
    redis: aioredis.Redis, *, policy: BloomPolicy, probes: int, name: str | None = None
) -> BenchResult:
    """Fill a fresh filter to capacity and probe it with never-added ids."""
    key = name or f"bloom-bench:{uuid.uuid4().hex}"
    bloom = BloomFilter(redis, name=key, policy=policy)
    started = time.perf_counter()
    try:
        for i in range(0, policy.capacity, _BATCH):
            await bloom.add([os.urandom(16) for _ in range(min(_BATCH, policy.capacity - i))])
        hits = 0
        for i in range(0, probes, _BATCH):
            answers = await bloom.maybe_contains(
                [os.urandom(16) for _ in range(min(_BATCH, probes - i))]
            )
            hits += sum(answers)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{{{key}}}:*")]
        if keys:
            await redis.delete(*keys)
    return BenchResult(policy, probes, hits, time.perf_counter() - started)


async def _main(args: argparse.Namespace) -> None:
    redis = aioredis.Redis.from_url(args.url, socket_timeout=30)
    try:
        policy = BloomPolicy(capacity=args.capacity, error_rate=args.error_rate)
        result = await measure(redis, policy=policy, probes=args.probes)
    finally:
        await redis.aclose()
    deviation = result.measured_rate / policy.error_rate - 1
    print(  # noqa: T201  # a command-line report
        f"bits={policy.bits} hashes={policy.hashes} capacity={policy.capacity}"
        f" probes={result.probes} false_positives={result.false_positives}\n"
        f"configured={policy.error_rate:.5f} expected(rounded m,k)={policy.expected_rate:.5f}"
        f" measured={result.measured_rate:.5f} deviation={deviation:+.1%}"
        f" seconds={result.seconds:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--probes", type=int, default=1_000_000)
    asyncio.run(_main(parser.parse_args()))
