"""``nova recs``: recommendation jobs from the command line.

=========================  ====================================================================
command                    does
=========================  ====================================================================
``nova recs precompute``   start the engines if embedded, precompute the active users' lists
=========================  ====================================================================

The embedded engines are started in this process (as ``nova seed`` does), so a running
``nova up`` on the same data directory must be stopped first, or the engines' URLs set.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from nova.platform import config, embedded

if TYPE_CHECKING:
    from nova.recs.jobs import PrecomputeReport

__all__ = ["recs_app"]

recs_app = typer.Typer(help="Recommendations: precompute ranked lists.", no_args_is_help=True)
_out = Console(soft_wrap=True, highlight=False)


@recs_app.command("precompute")
def precompute(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant whose users to precompute (default: the default).")
    ] = None,
    days: Annotated[
        float, typer.Option(min=0.01, help="A user is active after engaging this recently.")
    ] = 1.0,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Users at once (default: the setting).")
    ] = None,
    jitter: Annotated[
        float | None, typer.Option(min=0, help="Longest random delay per user, in seconds.")
    ] = None,
) -> None:
    """Compute and cache the recommended lists of the recently active users."""
    settings = config.load_settings()
    with embedded.Engines(settings) as engines:
        resolved = engines.start().apply(settings)
        report = asyncio.run(
            _precompute(
                resolved,
                tenant or resolved.default_tenant,
                days=days,
                concurrency=concurrency,
                jitter=jitter,
            )
        )
    _out.print(
        f"precomputed {report.stored} of {report.users} active users in tenant "
        f"{report.tenant_id!r} ({report.failed} failed)"
    )
    if report.failed:
        raise typer.Exit(code=1)


async def _precompute(
    settings: config.Settings,
    tenant: str,
    *,
    days: float,
    concurrency: int | None,
    jitter: float | None,
) -> PrecomputeReport:
    from nova.platform.db import migrate as db_migrate
    from nova.recs.jobs import precompute_tenant
    from nova.runtime import open_runtime

    if settings.database_url is not None:
        await db_migrate.upgrade(settings.database_url.get_secret_value())
    async with open_runtime(settings, run_worker=False) as runtime:
        return await precompute_tenant(
            runtime.recs, tenant, days=days, concurrency=concurrency, jitter=jitter
        )
