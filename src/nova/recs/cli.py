"""``nova recs``: recommendation jobs from the command line.

=========================  ====================================================================
command                    does
=========================  ====================================================================
``nova recs precompute``   start the engines if embedded, precompute the active users' lists
``nova recs evaluate``     offline evaluation on a synthetic log: precision@k vs. baselines
``nova recs backfill``     copy PostgreSQL posts and likes into ClickHouse (after a COPY seed)
``nova recs report``       online evaluation: CTR of the recorded impressions and clicks
=========================  ====================================================================

The embedded engines are started in this process (as ``nova seed`` does), so a running
``nova up`` on the same data directory must be stopped first, or the engines' URLs set.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from nova.platform import config, embedded

if TYPE_CHECKING:
    from nova.recs.jobs import PrecomputeReport
    from nova.recs.report import Report, ReportQuery

__all__ = ["recs_app"]

recs_app = typer.Typer(
    help="Recommendations: precompute ranked lists, evaluate offline, report online CTR.",
    no_args_is_help=True,
)
_out = Console(soft_wrap=True, highlight=False)


@recs_app.command("precompute")
def precompute(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant whose users to precompute (default: the default).")
    ] = None,
    all_tenants: Annotated[
        bool,
        typer.Option(
            "--all-tenants", help="Every tenant with recent engagement, as the schedule does."
        ),
    ] = False,
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
    if all_tenants and tenant is not None:
        raise typer.BadParameter("give --tenant or --all-tenants, not both")
    settings = config.load_settings()
    with embedded.Engines(settings) as engines:
        resolved = engines.start().apply(settings)
        reports = asyncio.run(
            _precompute(
                resolved,
                None if all_tenants else tenant or resolved.default_tenant,
                days=days,
                concurrency=concurrency,
                jitter=jitter,
            )
        )
    for report in reports:
        _out.print(
            f"precomputed {report.stored} of {report.users} active users in tenant "
            f"{report.tenant_id!r} ({report.failed} failed)"
        )
    if not reports:
        _out.print("no tenant had active users")
    if any(report.failed for report in reports):
        raise typer.Exit(code=1)


async def _precompute(
    settings: config.Settings,
    tenant: str | None,
    *,
    days: float,
    concurrency: int | None,
    jitter: float | None,
) -> list[PrecomputeReport]:
    """Precompute ``tenant``, or every active tenant when None."""
    from nova.platform.db import migrate as db_migrate
    from nova.recs.jobs import precompute_all, precompute_tenant
    from nova.runtime import open_runtime

    if settings.database_url is not None:
        await db_migrate.upgrade(settings.database_url.get_secret_value())
    async with open_runtime(settings, run_worker=False) as runtime:
        if tenant is None:
            return await precompute_all(
                runtime.recs, days=days, concurrency=concurrency, jitter=jitter
            )
        report = await precompute_tenant(
            runtime.recs, tenant, days=days, concurrency=concurrency, jitter=jitter
        )
        return [report]


@recs_app.command("evaluate")
def evaluate_command(
    users: Annotated[int, typer.Option(min=10, help="Synthetic users.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic log.")] = 7,
    k: Annotated[int, typer.Option(min=1, max=200, help="List length scored (precision@k).")] = 10,
    clickhouse_url: Annotated[
        str | None,
        typer.Option(
            help="Write the log there (tenant eval-<seed>-<users>); default: a temporary chdb."
        ),
    ] = None,
) -> None:
    """Offline evaluation: Nova's ranking vs. most recent (followed) and most liked baselines."""
    import shutil
    import tempfile

    from nova.recs import evaluate as ev

    settings = config.load_settings()
    plan = ev.EvalPlan(users=users, seed=seed, k=k)
    scratch = None if clickhouse_url else tempfile.mkdtemp(prefix="nova-recs-eval-")
    try:
        scores = asyncio.run(_evaluate(clickhouse_url or f"chdb://{scratch}", plan, settings))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    _out.print(
        f"synthetic log: {plan.users} users, {plan.users * plan.posts_per_user} posts, "
        f"seed {plan.seed}; held out: each user's likes in the day after the cutoff; "
        "ranking weights: the recs_* settings"
    )
    _out.print(ev.format_table(scores, k=k))


async def _evaluate(url: str, plan: Any, settings: config.Settings) -> list[Any]:
    from nova.platform import analytics
    from nova.recs import evaluate as ev
    from nova.recs.service import weights_from

    ch = await analytics.open_client(url)
    try:
        return await ev.evaluate(
            ch,
            plan,
            weights_from(settings),
            per_source=settings.recs_candidates_per_source,
            lookback_seconds=settings.recs_lookback_seconds,
            trending_seconds=settings.recs_trending_window_seconds,
            max_per_author=settings.recs_max_per_author,
            window=settings.recs_diversity_window,
        )
    finally:
        await ch.aclose()


@recs_app.command("backfill")
def backfill_command(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant to copy (default: the default tenant).")
    ] = None,
) -> None:
    """Copy posts and likes from PostgreSQL into ClickHouse (e.g. after `nova bench seed`)."""
    settings = config.load_settings()
    with embedded.Engines(settings) as engines:
        resolved = engines.start().apply(settings)
        report = asyncio.run(_backfill(resolved, tenant or resolved.default_tenant))
    _out.print(
        f"backfilled {report.posts} posts and {report.likes} likes of tenant"
        f" {report.tenant_id!r} into ClickHouse"
    )


async def _backfill(settings: config.Settings, tenant: str) -> Any:
    import asyncpg

    from nova.platform import analytics
    from nova.recs.backfill import backfill

    if settings.database_url is None or settings.clickhouse_url is None:
        raise typer.BadParameter("needs PostgreSQL and ClickHouse (embedded or by URL)")
    conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)
    ch = await analytics.open_client(settings.clickhouse_url.get_secret_value())
    try:
        return await backfill(conn, ch, tenant)
    finally:
        await ch.aclose()
        await conn.close(timeout=5)


@recs_app.command("report")
def report_command(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant to report on (default: the default tenant).")
    ] = None,
    hours: Annotated[
        float, typer.Option(min=0.01, help="Report the impressions and clicks of the last H hours.")
    ] = 24.0,
    attribution_hours: Annotated[
        float,
        typer.Option(min=0.01, help="Attribute a click to an impression at most A hours older."),
    ] = 24.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Online evaluation: pages, impressions, clicks and CTR per feed source, reason, position."""
    import datetime as dt

    import orjson

    from nova.recs import report as rp

    settings = config.load_settings()
    query = rp.ReportQuery.last(
        tenant or settings.default_tenant,
        hours=hours,
        attribution_hours=attribution_hours,
        now=dt.datetime.now(dt.UTC),
    )
    with embedded.Engines(settings, only=["clickhouse"]) as engines:
        endpoints = engines.start()
        result = asyncio.run(_report(endpoints.clickhouse_url, query))
    if as_json:
        typer.echo(orjson.dumps(rp.as_json(result), option=orjson.OPT_INDENT_2).decode())
        return
    _out.print(rp.describe(result), markup=False)
    _out.print(rp.format_table(result))


async def _report(url: str, query: ReportQuery) -> Report:
    from nova.platform import analytics
    from nova.recs import report as rp

    if not url:
        raise typer.BadParameter("needs ClickHouse (embedded or NOVA_CLICKHOUSE_URL)")
    ch = await analytics.open_client(url)
    try:
        # The sink creates the table when it starts; before that nothing was recorded.
        if not (await ch.query("EXISTS TABLE recommendation_events"))[0][0]:
            return rp.parse_report([], query)
        return await rp.load_report(ch, query)
    finally:
        await ch.aclose()
