"""The ``nova`` command: run the whole backend on a laptop, check it, migrate it.

=================  ==========================================================================
command            does
=================  ==========================================================================
``nova up``        start the engines (embedded where unset), migrate, serve HTTP on :8000
``nova serve X``   one service (users, content, feed) over gRPC, or the gateway over HTTP
``nova migrate``   start PostgreSQL if embedded, apply migrations, print them, stop
``nova doctor``    connect to every engine and print a table; non-zero exit on any failure
``nova recs``      recommendation jobs (``precompute``), see :mod:`nova.recs.cli`
=================  ==========================================================================

Expected failures (a :class:`~nova.platform.errors.NovaError`) end the process with one line on
stderr, ``error: NOVA_<SETTING>: <reason>``, and exit status 1; no traceback is printed
unless ``NOVA_LOG_LEVEL=DEBUG``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from nova.bench.cli import bench_app
from nova.platform import config, embedded, errors
from nova.platform.embedded import ENGINE_NAMES, ENGINE_SETTINGS
from nova.platform.events.cli import audit_app, events_app
from nova.platform.observability import cli as slo_cli
from nova.recs.cli import recs_app

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import FrameType

    from starlette.types import ASGIApp

    from nova import seed as seeding
    from nova.gateway.health import Probe

__all__ = ["app", "main"]

app = typer.Typer(
    name="nova",
    help="Nova: a social-media backend that starts on a laptop and grows to a cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(slo_cli.slo_app, name="slo")
app.add_typer(bench_app, name="bench")
app.add_typer(events_app, name="events")
app.add_typer(audit_app, name="audit")
app.add_typer(recs_app, name="recs")
_out = Console(soft_wrap=True, highlight=False)

#: Seconds uvicorn waits for in-flight requests after SIGTERM; engines stop after that.
_GRACEFUL_SHUTDOWN = 4


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Interface to bind (NOVA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (NOVA_PORT).")] = None,
    processes: Annotated[
        bool, typer.Option("--processes", help="One OS process per service, wired by gRPC.")
    ] = False,
) -> None:
    """Start every engine and serve GraphQL, /healthz, /readyz and /metrics."""
    from nova import processes as wiring
    from nova import server as nova_server
    from nova.platform import observability

    overrides = {key: value for key, value in {"host": host, "port": port}.items() if value}
    settings = config.load_settings(**overrides)
    # With --processes this process is the gateway; its spans and lines say so.
    observability.configure(settings, service="gateway" if processes else "nova")
    _stop_on_signals(exit_code=0)
    # Bind before starting anything: a taken port is the commonest mistake and costs nothing
    # to detect, and handing the bound socket to uvicorn leaves no window for a race.
    listener = _bind(settings.host, settings.port)
    # With --processes an embedded ClickHouse (chdb, in-process only) belongs to the recs child.
    only = ("postgres", "redis") if processes else None
    with listener, embedded.Engines(settings, only=only) as engines:
        endpoints = engines.start()
        _print_endpoints(endpoints, settings)
        if processes and not endpoints.clickhouse_url:
            where = settings.data_dir.absolute() / "clickhouse"
            _out.print(f"{'clickhouse':<10} embedded in the recs process, data in {where}")
        settings = endpoints.apply(settings)
        applied = asyncio.run(
            _prepare(endpoints, connect_timeout=settings.database_connect_timeout)
        )
        _out.print(f"migrations: {', '.join(applied) if applied else 'up to date'}")
        app_ = (
            wiring.build_gateway(endpoints.apply(settings), spawn=True)
            if processes
            else nova_server.build(endpoints.apply(settings))
        )
        _serve_http(app_, settings, listener)


def _serve_http(asgi: ASGIApp, settings: config.Settings, listener: socket.socket) -> None:
    """Serve ``asgi`` with uvicorn on the bound ``listener`` until a signal stops it."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            asgi,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,  # uvicorn's lines go through Nova's log configuration
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
        )
    )
    _out.print(f"nova: serving on http://{settings.host}:{settings.port} (Ctrl-C to stop)")
    server.run(sockets=[listener])
    if not server.started:
        raise errors.ConfigurationError(
            setting="NOVA_PORT", reason="the HTTP server did not start; see the log above"
        )


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="users, content, feed or gateway.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="gRPC port (default: from NOVA_RPC_*).")] = None,
) -> None:
    """Serve one service over gRPC, or the GraphQL gateway over HTTP in front of running ones.

    The services need NOVA_DATABASE_URL and NOVA_REDIS_URL; ``gateway`` needs NOVA_REDIS_URL
    and reaches the services at NOVA_RPC_*_ADDRESSES (its HTTP port: --port, else NOVA_PORT).
    """
    from nova import processes as wiring
    from nova.platform import observability

    if service == "gateway":
        settings = config.load_settings(host=host, **({"port": port} if port else {}))
        observability.configure(settings, service="gateway")
        _stop_on_signals(exit_code=0)
        with _bind(settings.host, settings.port) as listener:
            _serve_http(wiring.build_gateway(settings, spawn=False), settings, listener)
        return
    if service not in wiring.SERVICES:
        raise errors.ConfigurationError(setting="service", reason=f"unknown service {service!r}")
    settings = config.load_settings()
    name = wiring.SERVICES[wiring.SERVICES.index(service)]  # str -> ServiceName, checked above
    default_port = int(wiring.addresses_of(settings, name)[0].rsplit(":", 1)[1])
    observability.configure(settings, service=name)
    asyncio.run(wiring.serve(name, settings, address=f"{host}:{port or default_port}"))


@app.command()
def migrate() -> None:
    """Apply pending migrations to PostgreSQL (embedded unless NOVA_DATABASE_URL is set)."""
    settings = config.load_settings()
    _stop_on_signals(exit_code=130)
    with embedded.Engines(settings, only=["postgres"]) as engines:
        endpoints = engines.start()
        applied = asyncio.run(_migrate(endpoints.database_url))
    if not applied:
        _out.print("database is up to date")
    for revision in applied:
        _out.print(f"applied {revision}")


@app.command()
def seed(
    users: Annotated[int, typer.Option(min=2, help="Users to create.")] = 1_000,
    follows: Annotated[int, typer.Option(min=0, help="Mean follows per user.")] = 20,
    posts: Annotated[int, typer.Option(min=0, help="Mean posts per user.")] = 5,
    likes: Annotated[int, typer.Option(min=0, help="Mean likes per post.")] = 3,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
) -> None:
    """Load synthetic users, follows, posts and likes (password: nova-seed-password)."""
    from nova import seed as seeding

    settings = config.load_settings()
    plan = seeding.SeedPlan(
        users=users,
        follows_per_user=follows,
        posts_per_user=posts,
        likes_per_post=likes,
        seed=random_seed,
        tenant_id=settings.default_tenant,
    )
    _stop_on_signals(exit_code=130)
    with embedded.Engines(settings, only=["postgres"]) as engines:
        endpoints = engines.start()
        asyncio.run(_migrate(endpoints.database_url))
        report = asyncio.run(_seed(endpoints.database_url, plan))
    _out.print(
        f"seeded {report.users} users, {report.follows} follows, {report.posts} posts, "
        f"{report.likes} likes"
    )


async def _seed(database_url: str, plan: seeding.SeedPlan) -> seeding.SeedReport:
    import asyncpg
    from rich.progress import Progress

    from nova import seed as seeding

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        with Progress(console=_out, transient=False) as progress:
            task = progress.add_task("seeding", total=4)

            def advance(table: str, rows: int) -> None:
                progress.update(task, advance=1, description=f"{table}: {rows} rows")

            return await seeding.seed(conn, plan, progress=advance)
    finally:
        await conn.close(timeout=5)


@app.command()
def doctor() -> None:
    """Connect to each engine and report mode, address, version and round-trip time."""
    from nova.gateway import health

    settings = config.load_settings()
    _stop_on_signals(exit_code=130)
    timeout = settings.database_connect_timeout
    with embedded.Engines(settings) as engines:
        endpoints = engines.start()
        urls = _urls(endpoints)
        results = asyncio.run(_probe_all(urls, connect_timeout=timeout))
    table = Table(title="nova doctor")
    for column in ("engine", "mode", "address", "version", "rtt ms", "status"):
        # fold, not ellipsis: a truncated address is useless when the table is piped.
        table.add_column(column, justify="right" if column == "rtt ms" else "left", overflow="fold")
    failures: list[errors.NovaError] = []
    for name in ENGINE_NAMES:
        result = results[name]
        mode = "embedded" if name in endpoints.embedded else "external"
        address = health.mask_url(urls[name])
        if isinstance(result, BaseException):
            failures.append(_as_nova_error(result, setting=ENGINE_SETTINGS[name]))
            table.add_row(name, mode, address, "-", "-", "[red]FAILED[/red]")
        else:
            rtt = f"{result.latency_ms:.2f}"
            table.add_row(name, mode, address, result.version, rtt, "[green]ok[/green]")
    _out.print(table)
    if failures:
        more = f" (and {len(failures) - 1} more, see the table)" if len(failures) > 1 else ""
        _fail(f"error: {failures[0].message}{more}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``nova`` console script."""
    debug = os.environ.get("NOVA_LOG_LEVEL", "").upper() == "DEBUG"
    try:
        app(args=argv, prog_name="nova")
    except errors.NovaError as exc:
        if debug:
            raise
        _fail(f"error: {exc.message}")
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"error: unexpected {type(exc).__name__}: {first} (NOVA_LOG_LEVEL=DEBUG shows more)")


def _fail(line: str) -> NoReturn:
    # Plain write, not rich: one line, never wrapped at the terminal width.
    sys.stderr.write(line.replace("\n", " ") + "\n")
    sys.stderr.flush()
    sys.exit(1)


def _stop_on_signals(*, exit_code: int) -> None:
    """Turn the first SIGINT/SIGTERM into ``SystemExit`` so ``with`` blocks stop the engines.

    uvicorn installs its own handlers while serving and re-raises the signal once it has
    shut down gracefully; that re-raised signal lands here. Later signals are ignored so that
    stopping the engines (bounded, a second or so) is not interrupted half-way.
    """

    def _handler(signum: int, frame: FrameType | None) -> None:
        del frame
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        _out.print(f"nova: {signal.Signals(signum).name} received, stopping")
        raise SystemExit(exit_code)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise errors.ConfigurationError(
            setting="NOVA_HOST", reason=f"cannot resolve {host!r}: {exc.strerror}"
        ) from exc
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as exc:
        listener.close()
        raise errors.ConfigurationError(
            setting="NOVA_PORT",
            reason=(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop whatever uses it or"
                " pick another port with --port / NOVA_PORT"
            ),
        ) from exc
    return listener


def _urls(endpoints: embedded.EngineEndpoints) -> dict[str, str]:
    """The engines' URLs; an engine this process does not start or know of is left out."""
    urls = {
        "postgres": endpoints.database_url,
        "redis": endpoints.redis_url,
        "clickhouse": endpoints.clickhouse_url,
    }
    return {name: url for name, url in urls.items() if url}


def _print_endpoints(endpoints: embedded.EngineEndpoints, settings: config.Settings) -> None:
    from nova.gateway.health import mask_url

    for name, url in _urls(endpoints).items():
        if name in endpoints.embedded:
            where = f"embedded, data in {settings.data_dir.absolute() / name}"
        else:
            where = "external"
        _out.print(f"{name:<10} {mask_url(url)} ({where})")


async def _probe_all(
    urls: dict[str, str], *, connect_timeout: float
) -> dict[str, Probe | BaseException]:
    """Probe every engine in ``urls`` at once; a failure is returned, not raised."""
    from nova.gateway import health

    probes: dict[str, Callable[..., Awaitable[Probe]]] = {
        "postgres": health.probe_postgres,
        "redis": health.probe_redis,
        "clickhouse": health.probe_clickhouse,
    }
    calls = {name: probes[name](url, connect_timeout=connect_timeout) for name, url in urls.items()}
    results = await asyncio.gather(*calls.values(), return_exceptions=True)
    return dict(zip(calls, results, strict=True))


async def _prepare(endpoints: embedded.EngineEndpoints, *, connect_timeout: float) -> list[str]:
    """Check that every engine answers (naming the setting when not), then migrate."""
    results = await _probe_all(_urls(endpoints), connect_timeout=connect_timeout)
    for name, result in results.items():
        if isinstance(result, BaseException):
            raise _as_nova_error(result, setting=ENGINE_SETTINGS[name])
    return await _migrate(endpoints.database_url)


async def _migrate(database_url: str) -> list[str]:
    from nova.platform.db import migrate as db_migrate

    try:
        return await db_migrate.upgrade(database_url)
    except errors.NovaError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise errors.ConfigurationError(
            setting="NOVA_DATABASE_URL", reason=f"migrations failed: {first}"
        ) from exc


def _as_nova_error(exc: BaseException, *, setting: str) -> errors.NovaError:
    if isinstance(exc, errors.NovaError):
        return exc
    return errors.ConfigurationError(setting=setting, reason=f"{type(exc).__name__}: {exc}")
