"""``nova bench recs``: the recommended feed at one rate, with a warm cache, then a cold one.

==========  ===================================================================================
phase       what happens
==========  ===================================================================================
fill        one ``recommendedFeed(first: 20)`` per pooled user, a few in flight, so each miss
            is computed within the serving deadline and stored (:func:`fill_lists`)
warm        one open-loop step of the ``recs`` scenario (:func:`nova.bench.runner.measure_step`)
cold        the same step while :func:`evict_lists` deletes the tenant's stored lists every
            100 ms (SCAN + DEL, loopback Redis only): every page is a miss
==========  ===================================================================================

Each step's record carries ``clickhouse_queries_per_request`` and ``recs_fallback_ratio``
(:func:`nova.bench.probes.ratios` of ``nova_recs_events_total``). Nothing here judges a
timing: the report states what was measured.

Example::

    nova bench seed --data-dir .bench --scale 0.1
    nova bench recs --start --data-dir .bench --scale 0.1 --rate 200 --duration 15
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from nova.bench.loadgen import HttpClient
from nova.bench.runner import measure_step
from nova.bench.scenarios import RECS, Workload, login_pool
from nova.recs.domain import RecsSource
from nova.recs.service import list_key

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from nova.bench.target import Target
    from nova.platform.config import Settings

__all__ = [
    "Eviction",
    "FillSummary",
    "RecsPlan",
    "check_loopback",
    "evict_lists",
    "evict_once",
    "fill_lists",
    "list_key_pattern",
    "page_source",
    "run",
]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")
#: Seconds one fill request may take: a miss is computed within the serving deadline, but the
#: request may queue behind the others on a busy box.
_FILL_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class RecsPlan:
    """How to load one server with recommended-feed reads.

    Attributes:
        rate: Offered rate of each phase (req/s).
        step_seconds: Seconds of arrivals per phase.
        users: Users to log in, fill and draw requests for (``bench0`` ..).
        graph_users: Users in the seeded graph.
        fill_concurrency: Fill requests in flight.
        evict_interval: Seconds between eviction passes of the cold phase.
    """

    rate: float = 200.0
    step_seconds: float = 15.0
    users: int = 200
    graph_users: int = 10_000
    fill_concurrency: int = 4
    evict_interval: float = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class FillSummary:
    """What the fill served, per user's last attempt.

    Attributes:
        pages: Users filled (one page each, plus a retry for some).
        recommended: Users whose last page was ``RECOMMENDED`` (their list is stored).
        fallback: Users whose last page was ``CHRONOLOGICAL_FALLBACK`` (no list stored).
        failed: Users whose last request failed (status, GraphQL error, timeout).
        first_pass_recommended: ``RECOMMENDED`` pages of the first pass.
        retried: Users asked again, one at a time, after a first page that was not
            ``RECOMMENDED`` (its miss ran past the deadline, so nothing was stored).
        seconds: Wall time of the fill.
        concurrency: Requests in flight during the first pass.
    """

    pages: int
    recommended: int
    fallback: int
    failed: int
    first_pass_recommended: int
    retried: int
    seconds: float
    concurrency: int


@dataclasses.dataclass(frozen=True, slots=True)
class Eviction:
    """What the cold phase's eviction loop did.

    Attributes:
        keys: Lists deleted (``DEL``'s count: a key deleted twice counts twice).
        passes: SCAN + DEL passes completed.
        failed_passes: Passes that failed on a Redis error (the loop goes on).
    """

    keys: int
    passes: int
    failed_passes: int


def list_key_pattern(settings: Settings, tenant_id: str) -> str:
    """The ``SCAN MATCH`` pattern of every stored recommended list of ``tenant_id``.

    Example:
        >>> list_key_pattern(config.Settings(), "default")  # doctest: +SKIP
        'nova:recs:default:*'
    """

    def escaped(text: str) -> str:
        return _GLOB_SPECIAL.sub(r"\\\1", text)

    return list_key(escaped(settings.redis_key_prefix), escaped(tenant_id), "*")


def check_loopback(redis_url: str) -> str:
    """``redis_url`` if it names a loopback Redis (or a unix socket); the cold phase deletes keys.

    Raises:
        ValueError: any other host.
    """
    parts = urllib.parse.urlsplit(redis_url)
    if parts.scheme == "unix" or parts.hostname in _LOOPBACK:
        return redis_url
    raise ValueError(
        f"the cold phase deletes keys, so it runs against a loopback Redis only (got host"
        f" {parts.hostname!r}); give --redis-url redis://127.0.0.1:<port>/<db>"
    )


def page_source(status: int, body: bytes) -> str | None:
    """The ``source`` of a ``recommendedFeed`` response, or None when it failed."""
    if status != 200:
        return None
    try:
        feed = (orjson.loads(body).get("data") or {}).get("recommendedFeed") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return None
    source = feed.get("source")
    return str(source) if source else None


async def _fill_pass(
    client: HttpClient, tokens: Sequence[str], *, concurrency: int
) -> list[str | None]:
    body = orjson.dumps({"query": RECS, "variables": {}})
    gate = asyncio.Semaphore(concurrency)

    async def one(token: str) -> str | None:
        async with gate:
            try:
                async with asyncio.timeout(_FILL_TIMEOUT):
                    status, raw = await client.post("/graphql", body, token=token)
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
                return None
        return page_source(status, raw)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(token)) for token in tokens]
    return [task.result() for task in tasks]


async def fill_lists(
    client: HttpClient, tokens: Sequence[str], *, concurrency: int = 4
) -> FillSummary:
    """One recommended-feed page per token, ``concurrency`` at a time; what each page was.

    A miss computes and stores the viewer's list when it finishes within the serving deadline
    (``NOVA_RECS_DEADLINE_SECONDS``); few in flight keep the candidate queries from queueing
    past it on the one chdb session. A user whose page was not ``RECOMMENDED`` is asked once
    more, alone.
    """
    started = time.perf_counter()
    sources = await _fill_pass(client, tokens, concurrency=concurrency)
    recommended = RecsSource.RECOMMENDED.value
    again = [i for i, source in enumerate(sources) if source != recommended]
    for i in again:
        (sources[i],) = await _fill_pass(client, [tokens[i]], concurrency=1)
    return FillSummary(
        pages=len(sources),
        recommended=sources.count(recommended),
        fallback=sources.count(RecsSource.CHRONOLOGICAL_FALLBACK.value),
        failed=sources.count(None),
        first_pass_recommended=len(sources) - len(again),
        retried=len(again),
        seconds=round(time.perf_counter() - started, 2),
        concurrency=concurrency,
    )


async def evict_once(redis: aioredis.Redis, pattern: str) -> int:
    """Delete every key matching ``pattern`` (SCAN + DEL); how many were deleted.

    Raises:
        RedisError, OSError: Redis failed.
    """
    found = [key async for key in redis.scan_iter(match=pattern, count=1000)]
    return int(await redis.delete(*found)) if found else 0


async def evict_lists(
    redis: aioredis.Redis, pattern: str, *, interval: float, stop: asyncio.Event
) -> Eviction:
    """Delete every key matching ``pattern`` now, then every ``interval`` s until ``stop``."""
    keys = passes = failed = 0
    while True:
        try:
            keys += await evict_once(redis, pattern)
            passes += 1
        except (RedisError, OSError):
            # A pass lost to a slow Redis on a saturated box must not end the measurement.
            failed += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()
        if stop.is_set():
            return Eviction(keys=keys, passes=passes, failed_passes=failed)


def _log_step(log: Callable[[str], None], label: str, record: dict[str, Any]) -> None:
    lat = record["latency_ms"]
    queries = record.get("clickhouse_queries_per_request")
    log(
        f"{label}: {record['rate']:.0f} req/s  p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms"
        f"  errors {record['error_rate']:.2%}  ClickHouse queries/request"
        f" {'-' if queries is None else f'{queries:.3f}'}"
    )


async def run(
    target: Target,
    plan: RecsPlan,
    *,
    key_pattern: str,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fill, warm step, cold step against ``target``; the result is JSON-ready.

    The cold phase needs ``target.redis_url`` (loopback); without it the result says it was
    skipped.

    Raises:
        RuntimeError: logins failed, or the fill served no recommended page.
        ValueError: ``target.redis_url`` is not a loopback Redis.
    """
    redis_url = check_loopback(target.redis_url) if target.redis_url else None
    result: dict[str, Any] = {
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "plan": dataclasses.asdict(plan),
        "key_pattern": key_pattern,
    }
    async with HttpClient(target.host, target.port, max_connections=512) as client:
        log(f"logging in {plan.users} users")
        tokens = await login_pool(client, [f"bench{i}" for i in range(plan.users)])
        log(f"fill: one recommended feed per user, {plan.fill_concurrency} in flight")
        fill = await fill_lists(client, tokens, concurrency=plan.fill_concurrency)
        result["fill"] = dataclasses.asdict(fill)
        log(
            f"fill: {fill.recommended} RECOMMENDED, {fill.fallback} CHRONOLOGICAL_FALLBACK,"
            f" {fill.failed} failed in {fill.seconds} s ({fill.retried} asked again after the"
            f" first pass's {fill.first_pass_recommended} RECOMMENDED)"
        )
        if not fill.recommended:
            raise RuntimeError(
                f"the fill served no RECOMMENDED page ({fill.fallback} fallback, {fill.failed}"
                " failed): is ClickHouse empty? Seed with `nova bench seed` (it backfills"
                " ClickHouse) or run `nova recs backfill` on the data dir first"
            )
        workload = Workload(
            tokens=tokens,
            usernames=[f"bench{i}" for i in range(plan.graph_users)],
            weights={"recs": 1},
        )
        phases: dict[str, dict[str, Any]] = {}
        phases["warm"] = await measure_step(
            client, target, workload.next, rate=plan.rate, duration=plan.step_seconds
        )
        _log_step(log, "warm", phases["warm"])
        if redis_url is None:
            result["cold_skipped"] = "no Redis URL (give --redis-url with --url)"
            log(f"cold: skipped, {result['cold_skipped']}")
        else:
            await asyncio.sleep(1.0)
            phases["cold"] = await _cold(client, target, workload, plan, redis_url, key_pattern)
            _log_step(log, "cold", phases["cold"])
            cold = phases["cold"]
            log(
                f"cold: {cold['evicted_before_step']} lists evicted before the step,"
                f" {cold['evicted_keys']} during it"
            )
        result["phases"] = phases
    return result


async def _cold(
    client: HttpClient,
    target: Target,
    workload: Workload,
    plan: RecsPlan,
    redis_url: str,
    key_pattern: str,
) -> dict[str, Any]:
    stop = asyncio.Event()
    async with (
        aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) as redis,
        asyncio.TaskGroup() as group,
    ):
        # The lists filled and kept warm so far go before the first request is due.
        before = await evict_once(redis, key_pattern)
        evicting = group.create_task(
            evict_lists(redis, key_pattern, interval=plan.evict_interval, stop=stop)
        )
        try:
            record = await measure_step(
                client, target, workload.next, rate=plan.rate, duration=plan.step_seconds
            )
        finally:
            stop.set()
    eviction = evicting.result()
    record["evicted_before_step"] = before
    record["evicted_keys"] = eviction.keys
    record["eviction_passes"] = eviction.passes
    record["eviction_failed_passes"] = eviction.failed_passes
    return record
