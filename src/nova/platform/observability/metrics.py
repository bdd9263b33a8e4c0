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
nova_rpc_{server,client}_requests_total     service, method,   gRPC calls by status code
                                            code
nova_rpc_{server,client}_request_duration_  service, method    gRPC latency, each end
seconds
nova_rpc_client_retries_total               service, outcome   retried / refused by budget
nova_coalescer_batch_size                   name               keys per coalesced load
nova_singleflight_waiters                   name               callers sharing one load
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
import inspect
import logging
import os
import weakref
from typing import TYPE_CHECKING, Protocol, TypeAlias

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
    from collections.abc import Awaitable, Callable, Iterator, Mapping

    import asyncpg
    from prometheus_client.metrics_core import Metric

__all__ = [
    "BATCH_BUCKETS",
    "BUSINESS",
    "COALESCER_BATCH_SIZE",
    "DEDUP_KINDS",
    "DELIVERY_LAG_BUCKETS",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_DEDUP",
    "EVENTS_HANDLED",
    "EVENTS_PUBLISHED",
    "EVENT_DELIVERY_LAG",
    "EVENT_LOOP_LAG",
    "FAMILIES",
    "GRAPHQL_DURATION",
    "GRAPHQL_REQUESTS",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "LATENCY_BUCKETS",
    "RPC_CLIENT_DURATION",
    "RPC_CLIENT_REQUESTS",
    "RPC_CLIENT_RETRIES",
    "RPC_SERVER_DURATION",
    "RPC_SERVER_REQUESTS",
    "SINGLEFLIGHT_WAITERS",
    "scrape",
    "watch_cache",
    "watch_gauges",
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
#: Keys per coalesced load, callers per singleflight: powers of two up to the largest batch.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
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
    "Events handled by consumers, by outcome (ok, failed; skipped: a type it does not handle).",
    ["consumer", "event_type", "outcome"],
)
# Event pipeline. ``consumer`` is a consumer group (fixed by the wiring); ``kind`` is one of
# ``DEDUP_KINDS``.
EVENTS_PUBLISHED = Counter(
    "nova_events_published", "Outbox rows the relay published to the event log."
)
#: How a delivery passed the dedup check: Bloom "certainly new"; Bloom "maybe seen" and
#: confirmed by the exact store; Bloom "maybe seen" but new (a false positive, or no filter).
DEDUP_KINDS = ("bloom_new", "confirmed_duplicate", "false_positive")
EVENTS_DEDUP = Counter(
    "nova_events_dedup",
    "Deliveries by dedup outcome: bloom_new, confirmed_duplicate, false_positive.",
    ["consumer", "kind"],
)
EVENTS_DEAD_LETTERED = Counter(
    "nova_events_dead_lettered",
    "Events a consumer group gave up on and moved to the dead-letter log.",
    ["consumer"],
)

# gRPC, both ends. ``service`` is the full gRPC service name and ``method`` a method of its
# table (unknown methods never reach a handler), ``code`` a gRPC status name: all fixed by code.
RPC_SERVER_REQUESTS = Counter(
    "nova_rpc_server_requests",
    "gRPC calls served, by service, method and status code.",
    ["service", "method", "code"],
)
RPC_SERVER_DURATION = Histogram(
    "nova_rpc_server_request_duration_seconds",
    "gRPC call latency in seconds as the server measures it (handler start to answer).",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
RPC_CLIENT_REQUESTS = Counter(
    "nova_rpc_client_requests",
    "gRPC calls made, by service, method and final status code (after retries).",
    ["service", "method", "code"],
)
RPC_CLIENT_DURATION = Histogram(
    "nova_rpc_client_request_duration_seconds",
    "gRPC call latency in seconds as the caller sees it (retries and backoff included).",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
RPC_CLIENT_RETRIES = Counter(
    "nova_rpc_client_retries",
    "Retries of idempotent gRPC calls on UNAVAILABLE: made (retried) or denied by the retry"
    " budget (refused).",
    ["service", "outcome"],
)
# ``name`` is given where the coalescer or singleflight is built (``users``, ``recs.lists``).
COALESCER_BATCH_SIZE = Histogram(
    "nova_coalescer_batch_size",
    "Distinct keys per batched load of a coalescer.",
    ["name"],
    buckets=BATCH_BUCKETS,
)
SINGLEFLIGHT_WAITERS = Histogram(
    "nova_singleflight_waiters",
    "Callers that shared one singleflight call (1: nothing was deduplicated).",
    ["name"],
    buckets=BATCH_BUCKETS,
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


#: Reads a gauge family at scrape time: label values → value (see :func:`watch_gauges`).
GaugeReader: TypeAlias = "Callable[[], Awaitable[Mapping[tuple[str, ...], float]]]"


class _ScrapeTime(Collector):
    """Values read from live objects when scraped: caches and the outbox.

    Objects are held weakly: a cache or database that is gone simply stops being exported.
    """

    def __init__(self) -> None:
        self._caches: dict[str, weakref.ref[HitCounting]] = {}
        self._outbox: weakref.ref[PrimaryReads] | None = None
        self._totals: dict[str, tuple[str, Callable[[], Mapping[str, float]], str]] = {}
        self._gauges: dict[str, tuple[str, Callable[[], GaugeReader | None], list[str]]] = {}
        self._gauge_values: dict[str, Mapping[tuple[str, ...], float]] = {}
        self.outbox_lag: float | None = None

    def watch_cache(self, name: str, cache: HitCounting) -> None:
        self._caches[name] = weakref.ref(cache)

    def watch_outbox(self, db: PrimaryReads) -> None:
        self._outbox = weakref.ref(db)

    def watch_totals(
        self, name: str, documentation: str, read: Callable[[], Mapping[str, float]], *, label: str
    ) -> None:
        self._totals[name] = (documentation, read, label)

    def watch_gauges(
        self,
        name: str,
        documentation: str,
        read: GaugeReader,
        *,
        labels: list[str],
    ) -> None:
        # A bound method is held weakly, like the caches: its object's end ends the family.
        ref = weakref.WeakMethod(read) if inspect.ismethod(read) else lambda: read
        self._gauges[name] = (documentation, ref, labels)

    async def _refresh_gauges(self) -> None:
        values: dict[str, Mapping[tuple[str, ...], float]] = {}
        for name, (_doc, ref, _labels) in self._gauges.items():
            read = ref()
            if read is None:
                continue
            try:
                async with asyncio.timeout(_OUTBOX_QUERY_TIMEOUT):
                    values[name] = dict(await read())
            except Exception as exc:  # noqa: BLE001  # a scrape must answer when a source cannot
                logger.warning("%s unavailable for this scrape: %r", name, exc)
        self._gauge_values = values

    async def refresh(self) -> None:
        """Query what cannot be read synchronously in :meth:`collect` (outbox age, gauges)."""
        await self._refresh_gauges()
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
        for name, (documentation, _read, labels) in sorted(self._gauges.items()):
            if name not in self._gauge_values:
                continue
            gauge = GaugeMetricFamily(f"nova_{name}", documentation, labels=labels)
            for key, reading in sorted(self._gauge_values[name].items()):
                gauge.add_metric(list(key), reading)
            yield gauge


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
    "nova_events_published_total": (),
    "nova_events_dedup_total": ("consumer", "kind"),
    "nova_events_dead_lettered_total": ("consumer",),
    "nova_events_consumer_lag": ("consumer", "state"),
    "nova_events_dead_letters": (),
    "nova_rpc_server_requests_total": ("service", "method", "code"),
    "nova_rpc_server_request_duration_seconds": ("service", "method"),
    "nova_rpc_client_requests_total": ("service", "method", "code"),
    "nova_rpc_client_request_duration_seconds": ("service", "method"),
    "nova_rpc_client_retries_total": ("service", "outcome"),
    "nova_coalescer_batch_size": ("name",),
    "nova_singleflight_waiters": ("name",),
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


def watch_gauges(
    name: str,
    documentation: str,
    read: GaugeReader,
    *,
    labels: tuple[str, ...] = (),
) -> None:
    """Export a gauge family read asynchronously at each scrape (0.5 s budget).

    Args:
        name: Family name without ``nova_`` (``events_consumer_lag``).
        documentation: Help text.
        read: Returns label values (in ``labels`` order; ``()`` unlabelled) → value. A reader
            that fails or overruns leaves the family out of that scrape; a bound method is
            held weakly (the family ends with its object).
        labels: The label names.
    """
    _scrape_time.watch_gauges(name, documentation, read, labels=list(labels))


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
