"""``nova bench degraded``: one downstream service slowed, the rest of the API measured.

The process wiring is started piece by piece so that a :class:`FaultProxy` can sit between
the content service and everyone who calls it (the gateway and feed)::

    load --HTTP--> gateway (nova serve gateway) --gRPC--> users    (nova serve users)
                                                --gRPC--> proxy --> content (nova serve content)
                                                --gRPC--> feed     (nova serve feed)
                                                --gRPC--> recs     (nova serve recs)

Two open-loop streams run at once for three phases of equal length — ``baseline``, ``slowed``
(the proxy delays every chunk by ``--delay`` seconds) and ``recovered`` — and ``--cycles N``
repeats slowed/recovered N times, summing each phase's figures, so the drift of a shared
machine averages out instead of landing in one phase:

``other``   a signed-in profile read that touches only the users service, at ``--rate``;
``victim``  a signed-in ``post(id:)`` plus ``viewer`` at ``--victim-rate``: the ``post``
            field needs content, ``viewer`` does not.

Reported per phase: ``other`` p50/p99 and errors; for ``victim``, how many answered with the
``post`` field failed by a typed error code while ``viewer`` was still served, and by how much
failures exceeded the per-call deadline (``NOVA_RPC_TIMEOUT``; end to end, so the gateway's
own time, visible in the healthy phases, is included); the gateway's gRPC retries (they must
stay within the retry budget). The verdict compares the ``slowed`` p99 of
``other`` with the mean of the two healthy phases: the same run, the same machine, so a
ratio, not an absolute time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import orjson

from nova.bench import probes
from nova.bench.loadgen import HttpClient, Request, StepResult, run_step
from nova.bench.scenarios import PROFILE, Workload, login_pool
from nova.bench.stats import Latencies, intended_times
from nova.platform import embedded
from nova.platform.testing.faultproxy import Fault, FaultProxy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import IO

    from pydantic import SecretStr

    from nova.platform.config import Settings

__all__ = ["PHASES", "DegradedPlan", "run"]

#: Phases in order; ``slowed`` is the one with the fault.
PHASES = ("baseline", "slowed", "recovered")
VICTIM = "query Victim($id: ID!) { post(id: $id) { id body } viewer { user { username } } }"
_READY_WITHIN = 90.0


@dataclasses.dataclass(frozen=True, slots=True)
class DegradedPlan:
    """How hard and how long to load each phase.

    Attributes:
        rate: Requests/s of the ``other`` stream.
        victim_rate: Requests/s of the ``victim`` stream.
        phase_seconds: Seconds of arrivals per phase.
        delay: Seconds the proxy adds to every chunk from and to content while ``slowed``.
        users: Users to log in (``bench0`` ..).
        graph_users: Users in the seeded graph.
        cycles: Slowed/recovered rounds after the baseline; each phase's figures are summed
            over them, so drift of a shared machine averages out rather than landing in one
            phase.
    """

    rate: float = 50.0
    victim_rate: float = 5.0
    phase_seconds: float = 20.0
    delay: float = 2.0
    users: int = 100
    graph_users: int = 10_000
    cycles: int = 1


@dataclasses.dataclass(slots=True)
class _VictimStats:
    answered: int = 0
    field_failed: int = 0
    rest_served: int = 0
    codes: dict[str, int] = dataclasses.field(default_factory=dict)
    latency: Latencies = dataclasses.field(default_factory=Latencies)
    failure_latency: Latencies = dataclasses.field(default_factory=Latencies)
    transport_errors: int = 0

    def record(self, body: bytes, elapsed: float) -> None:
        self.answered += 1
        self.latency.record_seconds(elapsed)
        document = orjson.loads(body)
        data = document.get("data") or {}
        failed = [e for e in document.get("errors") or [] if "post" in (e.get("path") or [])]
        if failed:
            self.field_failed += 1
            self.failure_latency.record_seconds(elapsed)
            for error in failed:
                code = str((error.get("extensions") or {}).get("code", "NONE"))
                self.codes[code] = self.codes.get(code, 0) + 1
        if ((data.get("viewer") or {}).get("user") or {}).get("username"):
            self.rest_served += 1

    def as_record(self, deadline: float) -> dict[str, Any]:
        failures = self.failure_latency.summary() if self.failure_latency.count else None
        return {
            "answered": self.answered,
            "transport_errors": self.transport_errors,
            "post_field_failed": self.field_failed,
            "viewer_served": self.rest_served,
            "error_codes": dict(sorted(self.codes.items())),
            "latency_ms": dataclasses.asdict(self.latency.summary()) if self.answered else None,
            "failure_latency_ms": dataclasses.asdict(failures) if failures else None,
            # End to end, so these include the gateway's own time (see the healthy phases).
            "failure_p50_over_deadline_ms": (
                round(failures.p50 - deadline * 1000, 1) if failures is not None else None
            ),
            "failure_max_over_deadline_ms": (
                round(failures.max - deadline * 1000, 1) if failures is not None else None
            ),
        }


def run(
    plan: DegradedPlan, *, settings: Settings, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Start engines, services, proxy and gateway; load the three phases; stop everything.

    Raises:
        RuntimeError: a process did not start (its log tail attached) or logins failed.
    """
    # PostgreSQL and Redis only: nothing measured here reads ClickHouse, and an embedded chdb
    # directory can belong to one process only.
    with embedded.Engines(settings, only=["postgres", "redis"]) as engines:
        endpoints = engines.start()
        resolved = endpoints.apply(settings)
        return asyncio.run(_measure(plan, resolved, log=log))


async def _measure(
    plan: DegradedPlan, settings: Settings, *, log: Callable[[str], None]
) -> dict[str, Any]:
    content_port = embedded.free_port()
    async with FaultProxy(upstream_port=content_port, latency=plan.delay) as proxy:
        ports = {name: embedded.free_port() for name in ("users", "feed", "recs", "gateway")}
        env = _environment(settings, ports=ports, content_via=proxy.port)
        with (
            tempfile.TemporaryFile(mode="w+") as output,
            _children(
                env,
                content_port=content_port,
                gateway_port=ports["gateway"],
                output=output,
            ) as children,
        ):
            async with HttpClient("127.0.0.1", ports["gateway"], max_connections=256) as client:
                await _wait_ready(client, children, output)
                log(f"gateway on :{ports['gateway']}, content :{content_port} via :{proxy.port}")
                return await _phases(plan, settings, client, proxy, log=log)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _environment(settings: Settings, *, ports: dict[str, int], content_via: int) -> dict[str, str]:
    return {
        **os.environ,
        "NOVA_DATABASE_URL": _secret(settings.database_url),
        "NOVA_REDIS_URL": _secret(settings.redis_url),
        "NOVA_RPC_USERS_ADDRESSES": f"127.0.0.1:{ports['users']}",
        "NOVA_RPC_CONTENT_ADDRESSES": f"127.0.0.1:{content_via}",
        "NOVA_RPC_FEED_ADDRESSES": f"127.0.0.1:{ports['feed']}",
        "NOVA_RPC_RECS_ADDRESSES": f"127.0.0.1:{ports['recs']}",
        # The recs process opens the embedded ClickHouse there (the gateway waits for it).
        "NOVA_DATA_DIR": str(settings.data_dir.absolute()),
        "NOVA_PORT": str(ports["gateway"]),
        "NOVA_IP_RATE_LIMIT_PER_MINUTE": "100000000",
        "NOVA_LOG_LEVEL": os.environ.get("NOVA_LOG_LEVEL", "WARNING"),
    }


@contextlib.contextmanager
def _children(
    env: dict[str, str],
    *,
    content_port: int,
    gateway_port: int,
    output: IO[str],
) -> Iterator[list[subprocess.Popen[str]]]:
    commands = [
        ["serve", "users"],
        ["serve", "content", "--port", str(content_port)],
        ["serve", "feed"],
        ["serve", "recs"],
        ["serve", "gateway", "--port", str(gateway_port)],
    ]
    children = [
        subprocess.Popen(  # noqa: S603  # our own interpreter and module, no shell
            [sys.executable, "-m", "nova", *command],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for command in commands
    ]
    try:
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


async def _wait_ready(
    client: HttpClient, children: list[subprocess.Popen[str]], output: IO[str]
) -> None:
    give_up = time.monotonic() + _READY_WITHIN
    while True:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            status, _ = await client.request("GET", "/readyz")
            if status == 200:
                return
        if any(child.poll() is not None for child in children) or time.monotonic() > give_up:
            output.seek(0)
            raise RuntimeError(f"the process wiring did not start:\n{output.read()[-3000:]}")
        await asyncio.sleep(0.3)


async def _phases(
    plan: DegradedPlan,
    settings: Settings,
    client: HttpClient,
    proxy: FaultProxy,
    *,
    log: Callable[[str], None],
) -> dict[str, Any]:
    usernames = [f"bench{i}" for i in range(plan.users)]
    log(f"logging in {plan.users} users")
    tokens = await login_pool(client, usernames)
    workload = Workload(tokens=tokens, usernames=usernames, weights={"home": 1})
    for request in workload.warm_requests():
        status, body = await client.post("/graphql", request.body, token=request.token)
        if status == 200:
            workload.observe(body)
    if not workload.post_ids:
        raise RuntimeError("no posts in the warm-up feeds: seed the graph first")
    rng = random.Random(7)  # noqa: S311  # load shape, not security
    profiles = [f"bench{i}" for i in range(plan.graph_users)]

    def other() -> Request:
        variables = {"username": rng.choice(profiles)}
        body = orjson.dumps({"query": PROFILE, "variables": variables})
        return Request("other", body, rng.choice(tokens))

    await run_step(client, other, rate=plan.rate, duration=2.0)  # unmeasured warm-up
    tallies = {phase: _PhaseTally() for phase in PHASES}
    for cycle in range(plan.cycles):
        for phase in PHASES:
            if phase == "baseline" and cycle > 0:
                continue  # the previous cycle's "recovered" is this one's baseline
            proxy.fault = Fault.LATENCY if phase == "slowed" else Fault.NONE
            tally = tallies[phase]
            before = await probes.scrape(client)
            step, _ = await asyncio.gather(
                run_step(client, other, rate=plan.rate, duration=plan.phase_seconds),
                _victim_stream(client, plan, workload.post_ids, tokens, tally.victims, rng),
            )
            tally.add(step, before, await probes.scrape(client))
            summary = step.latency.summary()
            log(
                f"{cycle + 1}/{plan.cycles} {phase:>9}: other p50 {summary.p50:.1f} ms"
                f" p99 {summary.p99:.1f} ms errors {step.error_count}; victim post failed"
                f" {tally.victims.field_failed}/{tally.victims.answered} so far"
            )
    phases = {name: tally.as_record(settings.rpc_timeout) for name, tally in tallies.items()}
    healthy = Latencies.merged([tallies["baseline"].latency, tallies["recovered"].latency])
    verdict = _verdict(phases, healthy_other_p99=healthy.summary().p99)
    return {"plan": dataclasses.asdict(plan), "phases": phases, "verdict": verdict}


@dataclasses.dataclass(slots=True)
class _PhaseTally:
    """One phase's measurements, summed over the cycles."""

    latency: Latencies = dataclasses.field(default_factory=Latencies)
    send_lag: Latencies = dataclasses.field(default_factory=Latencies)
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = dataclasses.field(default_factory=list)
    victims: _VictimStats = dataclasses.field(default_factory=_VictimStats)
    retries: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, step: StepResult, before: dict[str, float], after: dict[str, float]) -> None:
        self.latency.merge(step.latency)
        self.send_lag.merge(step.send_lag)
        self.requests += step.requests
        self.errors += step.error_count
        self.error_samples = (self.error_samples + step.error_samples)[:5]
        for key, value in after.items():
            if key.startswith("rpc_client_retries:"):
                name = key.removeprefix("rpc_client_retries:")
                self.retries[name] = self.retries.get(name, 0.0) + value - before.get(key, 0.0)

    def as_record(self, deadline: float) -> dict[str, Any]:
        return {
            "other": {
                "requests": self.requests,
                "errors": self.errors,
                "error_samples": self.error_samples,
                "latency_ms": dataclasses.asdict(self.latency.summary()),
                # The load generator's own delay in sending (its loop also runs the proxy):
                # when this grows, the latency above is the generator's, not Nova's.
                "generator_send_lag_p99_ms": self.send_lag.summary().p99,
            },
            "victim": self.victims.as_record(deadline),
            "rpc_retries": self.retries,
        }


async def _victim_stream(
    client: HttpClient,
    plan: DegradedPlan,
    post_ids: list[str],
    tokens: list[str],
    stats: _VictimStats,
    rng: random.Random,
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(due: float) -> None:
        body = orjson.dumps({"query": VICTIM, "variables": {"id": rng.choice(post_ids)}})
        try:
            _, answer = await client.post("/graphql", body, token=rng.choice(tokens))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            stats.transport_errors += 1
            return
        stats.record(answer, loop.time() - due)

    async with asyncio.TaskGroup() as group:
        for offset in intended_times(rate=plan.victim_rate, duration=plan.phase_seconds):
            await asyncio.sleep(max(0.0, start + offset - loop.time()))
            group.create_task(one(start + offset))


def _verdict(phases: dict[str, Any], *, healthy_other_p99: float) -> dict[str, Any]:
    """Slowed against healthy, and how the ``post`` field failed.

    ``other``'s healthy p99 is over every healthy sample (baseline and recovered pooled), not
    an average of two percentiles.
    """
    slowed = phases["slowed"]["other"]["latency_ms"]["p99"]
    ratio = slowed / healthy_other_p99 if healthy_other_p99 else None
    victim = phases["slowed"]["victim"]
    return {
        "healthy_other_p99_ms": healthy_other_p99,
        "slowed_other_p99_ms": slowed,
        "other_p99_ratio": round(ratio, 3) if ratio is not None else None,
        "other_p99_within_20_percent": ratio is not None and abs(ratio - 1) <= 0.2,
        "post_field_failed_typed": victim["post_field_failed"] > 0
        and "NONE" not in victim["error_codes"],
        "viewer_served_while_slowed": victim["viewer_served"] == victim["answered"],
        "post_failure_p50_over_deadline_ms": victim["failure_p50_over_deadline_ms"],
        "post_failure_max_over_deadline_ms": victim["failure_max_over_deadline_ms"],
        "healthy_victim_p50_ms": phases["baseline"]["victim"]["latency_ms"]["p50"],
        "retries": {phase: sum(record["rpc_retries"].values()) for phase, record in phases.items()},
    }
