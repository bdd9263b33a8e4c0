"""One sweep against one Nova: log in, warm up, then a constant-rate step per rate.

Per step it records the latency histograms (from intended send times), errors, throughput,
the server's CPU, the peak PostgreSQL connections and the deltas of the server's counters,
and stops after the knee (p99 over the bound or errors over 0.1 %): further steps only
measure an overloaded server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nova.bench import probes
from nova.bench.loadgen import HttpClient, Request, StepResult, run_step
from nova.bench.scenarios import Workload, login_pool
from nova.bench.stats import find_knee

if TYPE_CHECKING:
    from collections.abc import Callable

    from nova.bench.target import Target

__all__ = ["SweepPlan", "measure_step", "sweep"]


@dataclasses.dataclass(frozen=True, slots=True)
class SweepPlan:
    """How to load one server.

    Attributes:
        rates: Offered rates (req/s), increasing.
        step_seconds: Seconds of arrivals per step.
        warmup_seconds: Seconds of unmeasured load at the first rate, after the feed warm-up.
        weights: Scenario mix.
        users: Users to log in and draw requests for (``bench0`` ..).
        graph_users: Users in the seeded graph (profiles are drawn from all of them).
        p99_bound_ms: Knee bound on p99.
        max_error_rate: Knee bound on the error rate.
        stop_at_knee: Skip the steps after the knee.
    """

    rates: Sequence[float]
    step_seconds: float = 10.0
    warmup_seconds: float = 3.0
    weights: dict[str, int] = dataclasses.field(default_factory=lambda: {"home": 1})
    users: int = 200
    graph_users: int = 10_000
    p99_bound_ms: float = 100.0
    max_error_rate: float = 0.001
    stop_at_knee: bool = True


def _step_record(step: StepResult, *, cpu: tuple[float, float], peak: int | None) -> dict[str, Any]:
    summary = step.latency.summary()
    lag = step.send_lag.summary()
    return {
        "rate": step.rate,
        "requests": step.requests,
        "throughput": round(step.throughput, 1),
        "errors": step.error_count,
        "error_rate": step.error_rate,
        "error_samples": step.error_samples,
        "latency_ms": dataclasses.asdict(summary),
        "by_scenario": {
            name: {**dataclasses.asdict(h.summary()), "errors": step.errors.get(name, 0)}
            for name, h in sorted(step.by_scenario.items())
        },
        "histogram": step.latency.encode(),
        "server_cpu_percent": round(100 * cpu[0] / step.duration, 1),
        "engines_cpu_percent": round(100 * cpu[1] / step.duration, 1),
        "generator_cpu_percent": round(100 * step.generator_cpu / step.duration, 1),
        "generator_send_lag_ms": {"p50": lag.p50, "p99": lag.p99, "max": lag.max},
        "max_pg_connections": peak,
    }


async def measure_step(
    client: HttpClient,
    target: Target,
    next_request: Callable[[], Request],
    *,
    rate: float,
    duration: float,
) -> dict[str, Any]:
    """One constant-rate step with its probes; the step's JSON-ready record.

    Around :func:`~nova.bench.loadgen.run_step`: ``/metrics`` scraped before and after (the
    counters' :func:`~nova.bench.probes.ratios`), the server's CPU when its pid is known, and
    the peak PostgreSQL connections when its database is.
    """
    cpu = probes.CpuProbe(target.pid) if target.pid is not None else None
    before = await probes.scrape(client)
    async with contextlib.AsyncExitStack() as stack:
        poll = None
        if target.database_url:
            poll = await stack.enter_async_context(probes.ConnectionPoll(target.database_url))
        if cpu is not None:
            cpu.start()
        step = await run_step(client, next_request, rate=rate, duration=duration)
        used = cpu.stop() if cpu is not None else (0.0, 0.0)
        peak = poll.peak if poll is not None else None
    record = _step_record(step, cpu=used, peak=peak)
    record.update(probes.ratios(before, await probes.scrape(client), requests=step.requests))
    return record


async def sweep(
    target: Target, plan: SweepPlan, *, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run ``plan`` against ``target``; the result is JSON-ready.

    Raises:
        RuntimeError: logins failed.
    """
    async with HttpClient(target.host, target.port, max_connections=512) as client:
        usernames = [f"bench{i}" for i in range(plan.users)]
        log(f"logging in {plan.users} users")
        tokens = await login_pool(client, usernames)
        workload = Workload(
            tokens=tokens,
            usernames=[f"bench{i}" for i in range(plan.graph_users)],
            weights=plan.weights,
        )
        log("warm-up: one home feed per user (rebuilds timelines, collects post ids)")
        for request in workload.warm_requests():
            status, body = await client.post("/graphql", request.body, token=request.token)
            if status == 200:
                workload.observe(body)
        if plan.warmup_seconds > 0:
            await run_step(client, workload.next, rate=plan.rates[0], duration=plan.warmup_seconds)
        steps: list[dict[str, Any]] = []
        for rate in plan.rates:
            record = await measure_step(
                client, target, workload.next, rate=rate, duration=plan.step_seconds
            )
            steps.append(record)
            lat = record["latency_ms"]
            log(
                f"{rate:>7.0f} req/s: p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms  "
                f"errors {record['error_rate']:.2%}  server cpu {record['server_cpu_percent']}%"
            )
            knee = _knee(steps, plan)
            if plan.stop_at_knee and knee["index"] is not None:
                break
            await asyncio.sleep(0.5)
    return {"plan": _plan_record(plan), "steps": steps, "knee": _knee(steps, plan)}


def _knee(steps: list[dict[str, Any]], plan: SweepPlan) -> dict[str, Any]:
    knee = find_knee(
        [(s["rate"], s["latency_ms"]["p99"], s["error_rate"]) for s in steps],
        p99_bound_ms=plan.p99_bound_ms,
        max_error_rate=plan.max_error_rate,
    )
    return dataclasses.asdict(knee)


def _plan_record(plan: SweepPlan) -> dict[str, Any]:
    record = dataclasses.asdict(plan)
    record["rates"] = list(plan.rates)
    return record
