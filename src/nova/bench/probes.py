"""What the server did during a step: CPU, PostgreSQL connections, its own counters.

========================  ==================================================================
probe                     source
========================  ==================================================================
:class:`CpuProbe`         psutil on the server pid (and, separately, its child processes:
                          the embedded PostgreSQL and Redis)
:class:`ConnectionPoll`   ``pg_stat_activity`` every 100 ms: client backends of the database
:func:`scrape`            ``/metrics``: ``nova_db_statements`` (``Database.stats.statements``),
                          response-cache, version-fenced-cache and timeline counters
========================  ==================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import asyncpg
import psutil
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from nova.bench.loadgen import HttpClient

__all__ = ["ConnectionPoll", "CpuProbe", "ratios", "scrape"]


class CpuProbe:
    """CPU seconds of a process and of its descendants since :meth:`start`.

    Args:
        pid: The server's process id.
    """

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._start = (0.0, 0.0)

    def _now(self) -> tuple[float, float]:
        own = sum(self._process.cpu_times()[:2])
        children = 0.0
        for child in self._process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                children += sum(child.cpu_times()[:2])
        return own, children

    def start(self) -> None:
        """Remember the current totals."""
        self._start = self._now()

    def stop(self) -> tuple[float, float]:
        """CPU seconds (server, its children) since :meth:`start`."""
        own, children = self._now()
        return own - self._start[0], max(0.0, children - self._start[1])


class ConnectionPoll:
    """Polls the most client connections to one database (the poller's own excluded).

    Args:
        database_url: The database Nova uses.
        interval: Seconds between polls.
    """

    def __init__(self, database_url: str, *, interval: float = 0.1) -> None:
        self._url = database_url
        self._interval = interval
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ConnectionPoll:
        conn = await asyncpg.connect(self._url, timeout=5)
        self._task = asyncio.get_running_loop().create_task(self._poll(conn))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    " AND datname = current_database() AND pid <> pg_backend_pid()"
                )
                self.peak = max(self.peak, int(count))
                await asyncio.sleep(self._interval)
        finally:
            await conn.close(timeout=2)


async def scrape(client: HttpClient) -> dict[str, float]:
    """The ``nova_*`` counters on ``/metrics`` (empty when the server exports none)."""
    status, body = await client.request("GET", "/metrics")
    if status != 200:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name.startswith("nova_") and sample.name.endswith("_total"):
                key = sample.name.removesuffix("_total").removeprefix("nova_")
                # One label at most on these families: "cache_hits:users", "feed_reads:timeline".
                for label_value in sample.labels.values():
                    key = f"{key}:{label_value}"
                values[key] = sample.value
    return values


def ratios(before: dict[str, float], after: dict[str, float], *, requests: int) -> dict[str, float]:
    """Per-step figures from two scrapes: statements per request and cache hit ratios.

    With recommended-feed traffic also ClickHouse queries per request, the fallback share and
    the pages per source (``recs_pages_recommended``, ``recs_pages_fallback``).

    Example:
        >>> ratios({"db_statements": 10}, {"db_statements": 40}, requests=10)
        {'sql_statements_per_request': 3.0}
    """
    delta = {key: after[key] - before.get(key, 0.0) for key in after}
    out: dict[str, float] = {}
    if "db_statements" in delta and requests:
        out["sql_statements_per_request"] = delta["db_statements"] / requests
    for name, cache in (("response_cache", "responses"), ("versioned_cache", "users")):
        hits = delta.get(f"cache_hits:{cache}", 0.0)
        misses = delta.get(f"cache_misses:{cache}", 0.0)
        if hits + misses:
            out[f"{name}_hit_ratio"] = hits / (hits + misses)
    reads = {k: v for k, v in delta.items() if k.startswith("feed_reads:")}
    if sum(reads.values()):
        out["timeline_hit_ratio"] = reads.get("feed_reads:timeline", 0.0) / sum(reads.values())
    # Recommended feed (nova_recs_events_total{kind}): ClickHouse queries and pages per source.
    pages = delta.get("recs_events:RECOMMENDED", 0.0)
    fallback = delta.get("recs_events:CHRONOLOGICAL_FALLBACK", 0.0)
    if pages + fallback and requests:
        queries = delta.get("recs_events:clickhouse_queries", 0.0)
        out["clickhouse_queries_per_request"] = queries / requests
        out["recs_fallback_ratio"] = fallback / (pages + fallback)
        out["recs_pages_recommended"] = pages
        out["recs_pages_fallback"] = fallback
    return out
