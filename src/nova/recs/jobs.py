"""The precompute job: once (``nova recs precompute``) or on a schedule inside the worker.

Every run lists the tenant's active users from ClickHouse and precomputes their lists through
:meth:`~nova.recs.client.RecsJobs.precompute_active`, which bounds the concurrency and
spreads the users with random delays, so a run never floods ClickHouse. The schedule repeats
every ``recs_cache_ttl / 2`` seconds (±10 % jitter, so replicas drift apart), so a user who
stays active always finds a fresh list. A scheduled run covers every tenant with recent
engagement, one after another (busiest first, each within the same concurrency bound, a failing
tenant logged and skipped), so tenants never add up to more concurrent queries than one.

Example:
    >>> report = await precompute_tenant(runtime.recs, "default")   # doctest: +SKIP
    >>> report.stored                                               # doctest: +SKIP
    42
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nova.platform.config import Settings
    from nova.recs.client import RecsJobs

__all__ = ["PrecomputeReport", "interval", "precompute_all", "precompute_tenant", "run_schedule"]

logger = logging.getLogger(__name__)

#: Relative spread of the schedule's period.
_PERIOD_JITTER = 0.1


@dataclasses.dataclass(frozen=True, slots=True)
class PrecomputeReport:
    """What one precompute run did.

    Attributes:
        tenant_id: The tenant whose users were precomputed.
        users: Active users found.
        stored: Lists computed and stored.
        failed: Users whose computation failed (logged, not raised).
    """

    tenant_id: str
    users: int
    stored: int
    failed: int


async def precompute_tenant(
    recs: RecsJobs,
    tenant_id: str,
    *,
    days: float = 1.0,
    concurrency: int | None = None,
    jitter: float | None = None,
) -> PrecomputeReport:
    """Precompute the lists of ``tenant_id``'s users active in the last ``days``.

    Args:
        recs: The recommendations client.
        tenant_id: Whose users.
        days: How recent an engagement makes a user active.
        concurrency: Users computed at once (default ``recs_precompute_concurrency``).
        jitter: Longest random delay before each user (default
            ``recs_precompute_jitter_seconds``).

    Raises:
        Exception: when listing the active users fails (ClickHouse down); per-user failures
            are counted instead.
    """
    users = await recs.active_users(tenant_id, days=days)
    stored, failed = await recs.precompute_active(
        users, tenant_id=tenant_id, concurrency=concurrency, jitter=jitter
    )
    return PrecomputeReport(tenant_id=tenant_id, users=len(users), stored=stored, failed=failed)


async def precompute_all(
    recs: RecsJobs,
    *,
    days: float = 1.0,
    concurrency: int | None = None,
    jitter: float | None = None,
) -> list[PrecomputeReport]:
    """Precompute every tenant with users active in the last ``days``, busiest first.

    Tenants run one after another, so the concurrency bound holds across tenants. A tenant
    whose run fails (its active users cannot be listed) is logged and skipped.

    Raises:
        Exception: when listing the active tenants fails (ClickHouse down).
    """
    reports: list[PrecomputeReport] = []
    for tenant_id in await recs.active_tenants(days=days):
        try:
            report = await precompute_tenant(
                recs, tenant_id, days=days, concurrency=concurrency, jitter=jitter
            )
        except Exception as exc:  # noqa: BLE001  # one tenant's failure must not skip the rest
            logger.warning(
                "recommendation precompute of a tenant failed",
                extra={"tenant.id": tenant_id, "error.type": type(exc).__name__},
            )
            continue
        reports.append(report)
    return reports


def interval(settings: Settings) -> float:
    """Seconds between scheduled runs: half the lists' lifetime."""
    return settings.recs_cache_ttl / 2


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_schedule(
    recs: RecsJobs,
    settings: Settings,
    stop: asyncio.Event,
    *,
    rng: random.Random | None = None,
) -> None:
    """Precompute every active tenant every :func:`interval` (jittered) until ``stop`` is set.

    The first run comes after one period (lists that are missing meanwhile are computed on
    demand). A failing run is logged and retried at the next period; it never ends the loop.
    """
    pick = rng or random.Random()  # noqa: S311  # jitter, not cryptography
    period = interval(settings)
    while not stop.is_set():
        await _wait(stop, period * pick.uniform(1 - _PERIOD_JITTER, 1 + _PERIOD_JITTER))
        if stop.is_set():
            return
        try:
            reports = await precompute_all(recs)
        except Exception as exc:  # noqa: BLE001  # the schedule outlives a failing ClickHouse
            logger.warning(
                "scheduled recommendation precompute failed",
                extra={"error.type": type(exc).__name__},
            )
            continue
        logger.info(
            "scheduled recommendation precompute",
            extra={
                "recs.tenants": len(reports),
                "recs.users": sum(r.users for r in reports),
                "recs.stored": sum(r.stored for r in reports),
            },
        )
