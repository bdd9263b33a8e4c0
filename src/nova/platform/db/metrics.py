"""Prometheus metrics of the PostgreSQL pools, replicas and their breakers.

Values are read from the live objects at scrape time (a custom collector), so the request path
pays nothing for them. Labels are bounded by configuration: ``pool`` is ``primary`` or
``replica-<index>``; never a user, tenant or query.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from typing_extensions import override

from nova.platform.resilience import BreakerState

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

    from nova.platform.db.pool import Database

__all__ = ["track"]

_databases: weakref.WeakSet[Database] = weakref.WeakSet()
_STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class _PoolCollector(Collector):
    @override
    def collect(self) -> Iterator[Metric]:
        gauges = {
            name: GaugeMetricFamily(f"nova_db_pool_{name}", doc, labels=["pool"])
            for name, doc in (
                ("size", "Connections a pool keeps."),
                ("in_use", "Connections checked out."),
                ("waiting", "Callers waiting for a connection."),
            )
        }
        rejected = CounterMetricFamily(
            "nova_db_pool_rejections",
            "Acquires rejected (saturated or timed out).",
            labels=["pool"],
        )
        discarded = CounterMetricFamily(
            "nova_db_pool_discarded",
            "Connections terminated after a timeout or error.",
            labels=["pool"],
        )
        lag = GaugeMetricFamily("nova_db_replica_lag_seconds", "Replay lag.", labels=["pool"])
        lag_bytes = GaugeMetricFamily("nova_db_replica_lag_bytes", "WAL behind.", labels=["pool"])
        healthy = GaugeMetricFamily("nova_db_replica_healthy", "1 if serving.", labels=["pool"])
        breaker = GaugeMetricFamily(
            "nova_db_replica_breaker_state", "0 closed, 1 half-open, 2 open.", labels=["pool"]
        )
        for database in list(_databases):
            for pool in database.pools:
                stats = pool.stats
                gauges["size"].add_metric([pool.name], stats.size)
                gauges["in_use"].add_metric([pool.name], stats.in_use)
                gauges["waiting"].add_metric([pool.name], stats.waiting)
                rejected.add_metric([pool.name], stats.rejected)
                discarded.add_metric([pool.name], stats.timeouts)
            for replica in database.replicas:
                if replica.lag_seconds is not None:
                    lag.add_metric([replica.name], replica.lag_seconds)
                if replica.lag_bytes is not None:
                    lag_bytes.add_metric([replica.name], replica.lag_bytes)
                healthy.add_metric([replica.name], 1.0 if replica.healthy else 0.0)
                breaker.add_metric([replica.name], _STATE_VALUE[replica.breaker.state])
        yield from gauges.values()
        yield from (rejected, discarded, lag, lag_bytes, healthy, breaker)


_registered = False


def track(database: Database) -> None:
    """Export ``database``'s pools while it lives (registers the collector once)."""
    global _registered  # one collector per process, registered on first use
    if not _registered:
        REGISTRY.register(_PoolCollector())
        _registered = True
    _databases.add(database)
