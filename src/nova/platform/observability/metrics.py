"""Every Prometheus metric Nova defines, in one place, with bounded labels.

Labels only ever take values from a set fixed by code or configuration (routes, schema root
fields, event types, consumer names, cache names) — never a user, tenant, post or query.

==========================================  =================  ============================
family (``_total`` for counters)            labels             what
==========================================  =================  ============================
nova_http_requests_total                    method, route,     HTTP requests answered
                                            status
nova_http_request_duration_seconds          method, route      HTTP latency
nova_graphql_requests_total                 operation,         GraphQL operations; outcome
                                            outcome            ok/client_error/server_error
nova_graphql_request_duration_seconds       operation          GraphQL latency (SLO)
nova_event_loop_lag_seconds                 —                  event-loop scheduling delay
nova_event_delivery_lag_seconds             consumer,          commit → handling (SLO)
                                            event_type
nova_events_handled_total                   consumer,          events handled
                                            event_type,
                                            outcome
nova_outbox_lag_seconds                     —                  age of oldest unpublished row
nova_cache_hits_total / _misses_total       cache              read-through cache lookups
nova_registrations_total …                  —                  business counters
==========================================  =================  ============================

``operation`` is the root field of the executed GraphQL operation (``homeFeed``,
``createPost``), ``multiple`` for several, ``invalid`` for documents that failed validation
and ``other`` when none can be named (see :mod:`nova.platform.observability.operations`).

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, before
the process starts); :func:`scrape` then aggregates every worker's counters and histograms.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from typing_extensions import override

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Iterator, Mapping

    import asyncpg
    from prometheus_client.metrics_core import Metric

__all__ = [
    "BUSINESS",
    "DELIVERY_LAG_BUCKETS",
    "EVENTS_HANDLED",
    "EVENT_DELIVERY_LAG",
    "EVENT_LOOP_LAG",
    "FAMILIES",
    "GRAPHQL_DURATION",
    "GRAPHQL_REQUESTS",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "LATENCY_BUCKETS",
    "scrape",
    "watch_cache",
    "watch_outbox",
    "watch_totals",
]

logger = logging.getLogger(__name__)

#: Seconds; fine between 1 and 50 ms for the feed objective (25 ms is a boundary).
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5,
    1.0, 2.5,
)  # fmt: skip
#: Seconds from commit to handling; 2 s is the freshness objective's boundary.
DELIVERY_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Seconds a scrape may spend querying the outbox before it reports without that gauge.
_OUTBOX_QUERY_TIMEOUT = 0.5

HTTP_REQUESTS = Counter(
    "nova_http_requests", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "nova_http_request_duration_seconds",
    "HTTP request latency in seconds, first byte in to last byte out.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_REQUESTS = Counter(
    "nova_graphql_requests",
    "GraphQL operations by root field and outcome (ok, client_error, server_error).",
    ["operation", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "nova_graphql_request_duration_seconds",
    "GraphQL operation latency in seconds (cache hits included).",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
EVENT_LOOP_LAG = Histogram(
    "nova_event_loop_lag_seconds",
    "How late the event loop ran a timer: time other work held the loop.",
    buckets=_LOOP_LAG_BUCKETS,
)
EVENT_DELIVERY_LAG = Histogram(
    "nova_event_delivery_lag_seconds",
    "Seconds from an event's commit to a consumer starting to handle it.",
    ["consumer", "event_type"],
    buckets=DELIVERY_LAG_BUCKETS,
)
EVENTS_HANDLED = Counter(
    "nova_events_handled",
    "Events handled by consumers, by outcome (ok, failed).",
    ["consumer", "event_type", "outcome"],
)

#: Business counters by short name (see ``operations.BUSINESS_FIELDS`` for what feeds them).
BUSINESS: dict[str, Counter] = {
    name: Counter(f"nova_{name}", doc)
    for name, doc in (
        ("registrations", "Accounts registered."),
        ("posts", "Posts published."),
        ("likes", "Likes given."),
        ("follows", "Follows (or follow requests) made."),
        ("feed_impressions", "Posts shown in home feeds."),
        ("recommendation_impressions", "Recommended posts shown."),
        ("recommendation_clicks", "Recommended posts opened."),
    )
}


class HitCounting(Protocol):
    """A cache that counts its hits and misses (``VersionedCache``, ``ResponseCache``)."""

    hits: int
    misses: int


class PrimaryReads(Protocol):
    """What the outbox-lag gauge needs of ``nova.platform.db.Database``."""

    def read(
        self, *, primary: bool = ...
    ) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]: ...


class _ScrapeTime(Collector):
    """Values read from live objects when scraped: caches and the outbox.

    Objects are held weakly: a cache or database that is gone simply stops being exported.
    """

    def __init__(self) -> None:
        self._caches: dict[str, weakref.ref[HitCounting]] = {}
        self._outbox: weakref.ref[PrimaryReads] | None = None
        self._totals: dict[str, tuple[str, Callable[[], Mapping[str, float]], str]] = {}
        self.outbox_lag: float | None = None

    def watch_cache(self, name: str, cache: HitCounting) -> None:
        self._caches[name] = weakref.ref(cache)

    def watch_outbox(self, db: PrimaryReads) -> None:
        self._outbox = weakref.ref(db)

    def watch_totals(
        self, name: str, documentation: str, read: Callable[[], Mapping[str, float]], *, label: str
    ) -> None:
        self._totals[name] = (documentation, read, label)

    async def refresh(self) -> None:
        """Query what cannot be read synchronously in :meth:`collect` (the outbox age)."""
        db = self._outbox() if self._outbox is not None else None
        self.outbox_lag = None
        if db is None:
            return
        try:
            async with asyncio.timeout(_OUTBOX_QUERY_TIMEOUT), db.read(primary=True) as conn:
                age = await conn.fetchval(
                    "SELECT extract(epoch FROM now() - min(occurred_at)) FROM outbox"
                    " WHERE published_at IS NULL",
                    timeout=_OUTBOX_QUERY_TIMEOUT,
                )
        except Exception as exc:  # noqa: BLE001  # a scrape must answer even when the db cannot
            logger.warning("outbox lag unavailable for this scrape: %r", exc)
            return
        self.outbox_lag = float(age or 0.0)

    @override
    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("nova_cache_hits", "Cache lookups answered.", labels=["cache"])
        misses = CounterMetricFamily(
            "nova_cache_misses", "Cache lookups that loaded from the source.", labels=["cache"]
        )
        for name, ref in sorted(self._caches.items()):
            cache = ref()
            if cache is not None:
                hits.add_metric([name], cache.hits)
                misses.add_metric([name], cache.misses)
        yield hits
        yield misses
        for name, (documentation, read, label) in sorted(self._totals.items()):
            family = CounterMetricFamily(
                f"nova_{name}", documentation, labels=[label] if label else None
            )
            for value, count in sorted(read().items()):
                family.add_metric([value] if label else [], count)
            yield family
        if self.outbox_lag is not None:
            yield GaugeMetricFamily(
                "nova_outbox_lag_seconds",
                "Age in seconds of the oldest unpublished outbox row (0 when drained).",
                value=self.outbox_lag,
            )


_scrape_time = _ScrapeTime()
REGISTRY.register(_scrape_time)

#: Every family this module exports, as exposed (counters with ``_total``); docs and the
#: dashboard are tested against it.
FAMILIES: dict[str, tuple[str, ...]] = {
    "nova_http_requests_total": ("method", "route", "status"),
    "nova_http_request_duration_seconds": ("method", "route"),
    "nova_graphql_requests_total": ("operation", "outcome"),
    "nova_graphql_request_duration_seconds": ("operation",),
    "nova_event_loop_lag_seconds": (),
    "nova_event_delivery_lag_seconds": ("consumer", "event_type"),
    "nova_events_handled_total": ("consumer", "event_type", "outcome"),
    "nova_outbox_lag_seconds": (),
    "nova_cache_hits_total": ("cache",),
    "nova_cache_misses_total": ("cache",),
    "nova_db_statements_total": (),
    "nova_feed_reads_total": ("source",),
    **{f"nova_{name}_total": () for name in BUSINESS},
}


def watch_cache(name: str, cache: HitCounting) -> None:
    """Export ``cache``'s hit and miss counts as ``cache="<name>"`` while it lives."""
    _scrape_time.watch_cache(name, cache)


def watch_outbox(db: PrimaryReads) -> None:
    """Export the age of ``db``'s oldest unpublished outbox row, queried at each scrape."""
    _scrape_time.watch_outbox(db)


def watch_totals(
    name: str, documentation: str, read: Callable[[], Mapping[str, float]], *, label: str = ""
) -> None:
    """Export a counter family read from a live object at each scrape.

    Args:
        name: Family name without ``nova_`` and ``_total`` (``db_statements``).
        documentation: Help text.
        read: Returns label value → count (``{"": n}`` when ``label`` is empty).
        label: The one label's name, or empty for an unlabelled counter.
    """
    _scrape_time.watch_totals(name, documentation, read, label=label)


async def scrape() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) counters and histograms are summed
    over every worker from their files, and the scrape-time values (caches, outbox lag) are the
    answering worker's. Collectors other modules register on the default registry (pools,
    breakers) read live objects of one process and are left out there: their numbers would
    jump between workers from scrape to scrape.
    """
    await _scrape_time.refresh()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped
    registry.register(_scrape_time)
    return generate_latest(registry), CONTENT_TYPE_LATEST
