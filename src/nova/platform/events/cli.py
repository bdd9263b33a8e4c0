"""``nova events …`` and ``nova audit …``: run a relay, inspect and replay dead letters, verify.

==============================  ==============================================================
command                         does
==============================  ==============================================================
``nova events relay``           run one outbox relay until SIGTERM (several may run)
``nova events dlq list``        print the dead letters (position, group, type, error)
``nova events dlq replay POS``  publish a dead letter again (``--all`` for every one)
``nova events replay``          rebuild tables from the audited events; exit 1 on differences
``nova audit verify``           walk the audit hash chain; exit 1 naming the first broken link
==============================  ==============================================================

They read the usual ``NOVA_*`` settings and need servers (``NOVA_DATABASE_URL``,
``NOVA_REDIS_URL`` or ``NOVA_EVENTS_URL``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import asyncpg
import typer

from nova.platform import config
from nova.platform.events import audit, redis_log, relay, replay

__all__ = ["audit_app", "events_app"]

events_app = typer.Typer(help="The event pipeline: relay and dead letters.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-lettered events.", no_args_is_help=True)
events_app.add_typer(dlq_app, name="dlq")
audit_app = typer.Typer(help="The audit event store.", no_args_is_help=True)


def _required(value: object, name: str) -> str:
    raw = getattr(value, "get_secret_value", lambda: None)()
    if not raw:
        raise typer.BadParameter(f"{name} must be set")
    return str(raw)


def _log(settings: config.Settings) -> redis_log.RedisStreamLog:
    url = _required(settings.events_url or settings.redis_url, "NOVA_EVENTS_URL or NOVA_REDIS_URL")
    return redis_log.connect(url, prefix=settings.redis_key_prefix, timeout=settings.events_timeout)


@events_app.command("relay")
def relay_command() -> None:
    """Publish committed outbox rows to the event log until SIGTERM."""
    asyncio.run(relay.run_relay(config.load_settings()))


@dlq_app.command("list")
def dlq_list(limit: Annotated[int, typer.Option(min=1, help="Most to show.")] = 100) -> None:
    """Print dead letters, oldest first."""

    async def go() -> None:
        log = _log(config.load_settings())
        try:
            for d in await log.dead_letters(limit=limit):
                typer.echo(
                    f"{d.position}\t{d.group}\t{d.event.event_type}\t{d.event.event_id}"
                    f"\tattempts={d.attempts}\t{d.error}"
                )
        finally:
            await log.aclose()

    asyncio.run(go())


@dlq_app.command("replay")
def dlq_replay(
    position: Annotated[str | None, typer.Argument(help="Dead letter to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also replay events older than the dedup retention.")
    ] = False,
) -> None:
    """Publish dead letters again (consumers that applied them already skip them).

    Groups skip an event they applied by its ``processed_events`` row, which is pruned after
    ``NOVA_EVENTS_DEDUP_RETENTION_SECONDS``. An older event is refused without ``--force``:
    fenced consumers would still skip it, unfenced ones could apply it a second time.
    """
    if not position and not replay_all:
        raise typer.BadParameter("name a POSITION or pass --all")
    settings = config.load_settings()
    horizon = dt.datetime.now(dt.UTC) - dt.timedelta(
        seconds=settings.events_dedup_retention_seconds
    )

    async def go() -> int:
        log = _log(settings)
        try:
            letters = await log.dead_letters(limit=10_000)
            wanted = [d for d in letters if replay_all or d.position == position]
            old = [d for d in wanted if d.event.occurred_at < horizon and not force]
            for d in old:
                typer.echo(
                    f"refused {d.position}: {d.event.event_id} is older than the dedup"
                    " retention (pass --force to replay it anyway)",
                    err=True,
                )
            done = [
                d.position
                for d in wanted
                if d not in old and await log.replay_dead_letter(d.position) is not None
            ]
        finally:
            await log.aclose()
        return len(done)

    replayed = asyncio.run(go())
    typer.echo(f"replayed {replayed}")
    if not replayed:
        raise typer.Exit(1)


@events_app.command("replay")
def replay_command(
    limit: Annotated[int, typer.Option(min=1, help="Most differences to print.")] = 100,
) -> None:
    """Rebuild accounts and blocks from the audited events; exit 1 naming every difference."""
    settings = config.load_settings()
    dsn = _required(settings.database_url, "NOVA_DATABASE_URL").split(",")[0]

    async def go() -> replay.ReplayReport:
        conn = await asyncpg.connect(dsn, timeout=settings.database_connect_timeout)
        try:
            return await replay.compare(conn)
        finally:
            await conn.close()

    report = asyncio.run(go())
    tables = ", ".join(f"{table} {n} rows" for table, n in report.rows.items())
    typer.echo(
        f"replayed {report.recorded} audited events (+{report.pending} not yet audited)"
        f" against {tables}"
    )
    for difference in report.differences[:limit]:
        typer.echo(str(difference))
    if report.ok:
        typer.echo("no differences")
        return
    hidden = len(report.differences) - limit
    more = f" ({hidden} not shown; raise --limit)" if hidden > 0 else ""
    typer.echo(f"{len(report.differences)} differences{more}", err=True)
    raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit store; exit 1 naming the first broken link."""
    settings = config.load_settings()
    dsn = _required(settings.database_url, "NOVA_DATABASE_URL").split(",")[0]

    async def go() -> audit.Verification:
        conn = await asyncpg.connect(dsn, timeout=settings.database_connect_timeout)
        try:
            return await audit.verify(conn)
        finally:
            await conn.close()

    result = asyncio.run(go())
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} events")
        return
    typer.echo(f"audit chain broken at seq {result.broken_seq}: {result.reason}", err=True)
    raise typer.Exit(1)
