"""``nova bench``: seed the synthetic graph, load a Nova, compare it with its baseline.

==========================  ===============================================================
command                     does
==========================  ===============================================================
``nova bench seed``         generate and COPY the graph (``--scale``), backfill ClickHouse
``nova bench run``          rate sweep (``--url`` or ``--start``), ``--baseline`` beside it
``nova bench 10x``          one step at 10x the normal rate: PG connections, error rate
``nova bench fanout``       publish-to-visible for 1k / 10k / 100k followers
``nova bench degraded``     content slowed 2 s (process wiring): the other operations' p99
``nova bench recs``         recommended feed at one rate, warm cache then cold (lists evicted)
==========================  ===============================================================

Example::

    nova bench seed --data-dir .bench --scale 0.2
    nova bench run --start --data-dir .bench --scale 0.2 --baseline --out bench-results/run
    nova bench recs --start --data-dir .bench --scale 0.2 --rate 200 --out bench-results/recs
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from nova.platform import config, embedded

if TYPE_CHECKING:
    from nova.bench import graph, runner
    from nova.recs.backfill import BackfillReport

# numpy, matplotlib and the service modules load inside the commands, so `nova up` does not
# pay for them.

__all__ = ["bench_app"]

bench_app = typer.Typer(help="Benchmarks: synthetic data, load sweeps, fan-out timing.")
_out = Console(soft_wrap=True, highlight=False)

DataDir = Annotated[
    Path | None, typer.Option(help="NOVA_DATA_DIR of the embedded engines (default: settings).")
]
Scale = Annotated[float, typer.Option(min=0.001, help="Graph size x 10k users / 500k follows.")]


def _settings(data_dir: Path | None) -> config.Settings:
    return config.load_settings(**({"data_dir": data_dir} if data_dir else {}))


@bench_app.command("seed")
def seed_command(
    scale: Scale = 1.0,
    data_dir: DataDir = None,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
) -> None:
    """Generate the benchmark graph, COPY it into a fresh (migrated) database, fill ClickHouse.

    The COPY bypasses the event pipeline, so the posts and likes are then backfilled into
    ClickHouse (:func:`nova.recs.backfill.backfill`; the embedded chdb of the data dir, or
    ``NOVA_CLICKHOUSE_URL``): the data dir is ready for recommendations.
    """
    from nova.bench import graph
    from nova.gateway.health import mask_url
    from nova.platform.db import migrate

    settings = _settings(data_dir)
    plan = graph.GraphPlan.scaled(scale, seed=random_seed, tenant_id=settings.default_tenant)
    started = time.perf_counter()
    drawn = graph.generate(plan, start_ms=int((time.time() - 7 * 86_400) * 1000))
    generated = time.perf_counter() - started
    _out.print(f"generated {plan} in {generated:.1f} s")
    with embedded.Engines(settings, only=["postgres", "clickhouse"]) as engines:
        endpoints = engines.start()
        url = endpoints.database_url
        asyncio.run(migrate.upgrade(url))
        started = time.perf_counter()
        result = asyncio.run(_load(url, drawn, plan.tenant_id))
        loaded = time.perf_counter() - started
        _out.print(
            f"loaded {result.users} users, {result.follows} follows, {result.posts} posts,"
            f" {result.likes} likes in {loaded:.1f} s (COPY + ANALYZE); benchmark fan-out"
            f" threshold {graph.bench_threshold(plan.users)}"
        )
        started = time.perf_counter()
        backfilled = asyncio.run(_backfill(url, endpoints.clickhouse_url, plan.tenant_id))
    _out.print(
        f"backfilled {backfilled.posts} posts and {backfilled.likes} likes of tenant"
        f" {backfilled.tenant_id!r} into ClickHouse ({mask_url(endpoints.clickhouse_url)})"
        f" in {time.perf_counter() - started:.1f} s"
    )


async def _load(url: str, drawn: graph.Graph, tenant_id: str) -> Any:
    import asyncpg
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from nova.bench import graph

    conn = await asyncpg.connect(url, timeout=10)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=_out) as progress:
            task = progress.add_task("COPY users", total=4)

            def advance(table: str, rows: int) -> None:
                progress.update(task, advance=1, description=f"{table}: {rows} rows")

            return await graph.load(conn, drawn, tenant_id=tenant_id, progress=advance)
    finally:
        await conn.close(timeout=5)


async def _backfill(database_url: str, clickhouse_url: str, tenant_id: str) -> BackfillReport:
    import asyncpg

    from nova.platform import analytics
    from nova.recs.backfill import backfill

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        ch = await analytics.open_client(clickhouse_url)
        try:
            return await backfill(conn, ch, tenant_id)
        finally:
            await ch.aclose()
    finally:
        await conn.close(timeout=5)


def _weights(scenario: str) -> dict[str, int]:
    from nova.bench.scenarios import MIX, SCENARIOS

    if scenario == "mix":
        return dict(MIX)
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"--scenario is mix or one of {', '.join(SCENARIOS)}")
    return {scenario: 1}


def _sweep(
    *,
    url: str | None,
    start: bool,
    data_dir: Path | None,
    env: dict[str, str],
    database_url: str | None,
    plan: runner.SweepPlan,
) -> dict[str, Any]:
    from nova.bench import runner, target

    if start:
        settings = _settings(data_dir)
        with target.launch(data_dir=settings.data_dir, env=env) as running:
            _out.print(f"started nova up (pid {running.pid}) on port {running.port} with {env}")
            return asyncio.run(runner.sweep(running, plan, log=_out.print))
    if url is None:
        raise typer.BadParameter("give --url of a running Nova, or --start")
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    there = target.Target(host, int(port or 80), None, database_url)
    return asyncio.run(runner.sweep(there, plan, log=_out.print))


def _launch_env(scale: float, *, optimized: bool) -> dict[str, str]:
    from nova.bench import graph

    users = graph.GraphPlan.scaled(scale).users
    env = {
        "NOVA_FANOUT_FOLLOWER_THRESHOLD": str(graph.bench_threshold(users)),
        "NOVA_IP_RATE_LIMIT_PER_MINUTE": "100000000",
    }
    if not optimized:
        env["NOVA_OPTIMIZATIONS"] = "off"
    return env


def _finish(result: dict[str, Any], out: Path) -> None:
    from nova.bench import report

    for path in report.write(result, out):
        _out.print(f"wrote {path}")
    _out.print(report.markdown(result))


@bench_app.command("run")
def run_command(  # one flag per documented option
    url: Annotated[str | None, typer.Option(help="A running Nova (http://127.0.0.1:8000).")] = None,
    start: Annotated[bool, typer.Option(help="Launch `nova up` on a free port.")] = False,
    data_dir: DataDir = None,
    scale: Scale = 1.0,
    rates: Annotated[str, typer.Option(help="Comma-separated offered rates (req/s).")] = (
        "100,200,350,500,700"
    ),
    duration: Annotated[float, typer.Option(min=0.5, help="Seconds per step.")] = 10.0,
    warmup: Annotated[float, typer.Option(min=0, help="Seconds of unmeasured load.")] = 3.0,
    scenario: Annotated[
        str, typer.Option(help="mix, home, profile, post, like, create or recs.")
    ] = "mix",
    users: Annotated[int, typer.Option(min=1, help="Users logged in (token pool).")] = 200,
    p99_bound: Annotated[float, typer.Option(help="Knee: p99 bound in ms.")] = 100.0,
    baseline: Annotated[bool, typer.Option(help="Also sweep NOVA_OPTIMIZATIONS=off.")] = False,
    database_url: Annotated[
        str | None, typer.Option(help="With --url: the database to count connections on.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory of the report.")] = Path("bench-results/run"),
) -> None:
    """Open-loop rate sweep; with --baseline, the same sweep with optimizations off first."""
    from nova.bench import graph, report, runner

    if baseline and not start:
        raise typer.BadParameter("--baseline needs --start (the baseline is a second server)")
    graph_users = graph.GraphPlan.scaled(scale).users
    plan = runner.SweepPlan(
        rates=[float(r) for r in rates.split(",") if r.strip()],
        step_seconds=duration,
        warmup_seconds=warmup,
        weights=_weights(scenario),
        users=min(users, graph_users),
        graph_users=graph_users,
        p99_bound_ms=p99_bound,
    )
    result: dict[str, Any] = {"command": "run", "invocation": shlex.join(["nova", *sys.argv[1:]])}
    for label in ("baseline", "optimized") if baseline else ("optimized",):
        _out.print(f"[bold]{label}[/bold]")
        result[label] = _sweep(
            url=url,
            start=start,
            data_dir=data_dir,
            database_url=database_url,
            env=_launch_env(scale, optimized=label == "optimized"),
            plan=plan,
        )
    if baseline:
        result["comparison"] = report.compare(result["optimized"], result["baseline"])
    _finish(result, out)


@bench_app.command("10x")
def tenx_command(
    start: Annotated[bool, typer.Option(help="Launch `nova up` on a free port.")] = True,
    url: Annotated[str | None, typer.Option(help="A running Nova instead of --start.")] = None,
    data_dir: DataDir = None,
    scale: Scale = 1.0,
    normal_rate: Annotated[float, typer.Option(help="The normal load (req/s).")] = 50.0,
    duration: Annotated[float, typer.Option(min=0.5, help="Seconds at 10x.")] = 20.0,
    database_url: Annotated[str | None, typer.Option(help="With --url: database.")] = None,
    out: Annotated[Path, typer.Option(help="Directory of the report.")] = Path("bench-results/10x"),
) -> None:
    """The mix at 10x the normal rate: peak PostgreSQL connections and error rate."""
    from nova.bench import graph, runner
    from nova.bench.scenarios import MIX

    graph_users = graph.GraphPlan.scaled(scale).users
    plan = runner.SweepPlan(
        rates=[normal_rate * 10],
        step_seconds=duration,
        weights=dict(MIX),
        users=min(200, graph_users),
        graph_users=graph_users,
        stop_at_knee=False,
    )
    sweep = _sweep(
        url=None if start else url,
        start=start,
        data_dir=data_dir,
        database_url=database_url,
        env=_launch_env(scale, optimized=True),
        plan=plan,
    )
    step = sweep["steps"][0]
    _out.print(
        f"10x ({normal_rate * 10:g} req/s): max PostgreSQL connections"
        f" {step['max_pg_connections']}, errors {step['error_rate']:.2%}"
    )
    invocation = shlex.join(["nova", *sys.argv[1:]])
    _finish({"command": "10x", "invocation": invocation, "optimized": sweep}, out)


@bench_app.command("fanout")
def fanout_command(
    followers: Annotated[str, typer.Option(help="Comma-separated audience sizes.")] = (
        "1000,10000,100000"
    ),
    posts: Annotated[int, typer.Option(min=1, help="Measured posts per size.")] = 10,
    data_dir: DataDir = None,
    out: Annotated[Path, typer.Option(help="Directory of the report.")] = Path(
        "bench-results/fanout"
    ),
) -> None:
    """Publish-to-visible time for authors with 1k, 10k and 100k followers."""
    import orjson

    from nova.bench import fanout

    settings = _settings(data_dir)
    results: list[dict[str, Any]] = []
    with embedded.Engines(settings, only=["postgres", "redis"]) as engines:
        endpoints = engines.start()
        for size in [int(f) for f in followers.split(",") if f.strip()]:
            results.append(  # noqa: PERF401  # sequential on purpose: one audience at a time
                asyncio.run(
                    fanout.measure(
                        database_url=endpoints.database_url,
                        redis_url=endpoints.redis_url,
                        followers=size,
                        posts=posts if size <= 10_000 else max(1, posts // 2),
                        log=_out.print,
                    )
                )
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / "fanout.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    _out.print(f"wrote {out / 'fanout.json'}")


@bench_app.command("degraded")
def degraded_command(
    data_dir: DataDir = None,
    scale: Scale = 1.0,
    rate: Annotated[float, typer.Option(min=1, help="Other operations (req/s).")] = 50.0,
    victim_rate: Annotated[
        float, typer.Option(min=0.5, help="Requests needing the slowed service (req/s).")
    ] = 5.0,
    duration: Annotated[float, typer.Option(min=1, help="Seconds per phase.")] = 20.0,
    delay: Annotated[float, typer.Option(min=0, help="Seconds added to content.")] = 2.0,
    cycles: Annotated[int, typer.Option(min=1, help="Slowed/recovered rounds.")] = 1,
    out: Annotated[Path, typer.Option(help="Directory of the report.")] = Path(
        "bench-results/degraded"
    ),
) -> None:
    """Content slowed behind a fault proxy in the process wiring: the rest of the API's p99."""
    import orjson

    from nova.bench import degraded, graph

    graph_users = graph.GraphPlan.scaled(scale).users
    plan = degraded.DegradedPlan(
        rate=rate,
        victim_rate=victim_rate,
        phase_seconds=duration,
        delay=delay,
        users=min(100, graph_users),
        graph_users=graph_users,
        cycles=cycles,
    )
    result = degraded.run(plan, settings=_settings(data_dir), log=_out.print)
    result["invocation"] = shlex.join(["nova", *sys.argv[1:]])
    out.mkdir(parents=True, exist_ok=True)
    (out / "degraded.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    _out.print(f"wrote {out / 'degraded.json'}")
    _out.print(orjson.dumps(result["verdict"], option=orjson.OPT_INDENT_2).decode())


@bench_app.command("recs")
def recs_command(  # one flag per documented option
    start: Annotated[bool, typer.Option(help="Launch `nova up` on a free port.")] = False,
    url: Annotated[str | None, typer.Option(help="A running Nova instead of --start.")] = None,
    data_dir: DataDir = None,
    scale: Scale = 1.0,
    rate: Annotated[float, typer.Option(min=0.5, help="Offered req/s of each phase.")] = 200.0,
    duration: Annotated[float, typer.Option(min=0.5, help="Seconds per phase.")] = 15.0,
    users: Annotated[int, typer.Option(min=1, help="Users logged in and filled.")] = 200,
    fill_concurrency: Annotated[
        int, typer.Option(min=1, help="Fill requests in flight (each miss within the deadline).")
    ] = 4,
    redis_url: Annotated[
        str | None,
        typer.Option(help="With --url: the server's Redis (loopback), for the cold phase."),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="With --url: the database to count connections on.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory of the report.")] = Path(
        "bench-results/recs"
    ),
) -> None:
    """Recommended feed at one rate: p50/p99 and ClickHouse queries per request, warm and cold.

    Logs the pool in, fills the cache (one page per user), runs one step with the lists
    cached, then the same step while the tenant's lists are deleted every 100 ms.
    """
    from nova.bench import graph, target
    from nova.bench import recs as bench_recs

    settings = _settings(data_dir)
    graph_users = graph.GraphPlan.scaled(scale).users
    plan = bench_recs.RecsPlan(
        rate=rate,
        step_seconds=duration,
        users=min(users, graph_users),
        graph_users=graph_users,
        fill_concurrency=fill_concurrency,
    )
    pattern = bench_recs.list_key_pattern(settings, settings.default_tenant)
    if redis_url is not None:
        try:
            bench_recs.check_loopback(redis_url)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--redis-url") from exc

    def measure(there: target.Target) -> dict[str, Any]:
        try:
            return asyncio.run(bench_recs.run(there, plan, key_pattern=pattern, log=_out.print))
        except RuntimeError as exc:
            _out.print(f"[red]{exc}[/red]")
            raise typer.Exit(code=1) from exc

    if start:
        # The worker's precompute schedule would refill the lists the cold phase evicts.
        env = {**_launch_env(scale, optimized=True), "NOVA_RECS_PRECOMPUTE_SCHEDULE": "false"}
        with target.launch(data_dir=settings.data_dir, env=env) as running:
            _out.print(f"started nova up (pid {running.pid}) on port {running.port} with {env}")
            result = measure(running)
    elif url is not None:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        result = measure(target.Target(host, int(port or 80), None, database_url, redis_url))
    else:
        raise typer.BadParameter("give --url of a running Nova, or --start")
    _finish({"command": "recs", "invocation": shlex.join(["nova", *sys.argv[1:]]), **result}, out)
