r"""Measure the analytics sink: events per second, one INSERT per event vs one per batch.

Publishes ``events`` envelopes (mostly ``Liked``; every tenth a ``PostPublished``, which adds a
feed-candidate row, and every tenth a ``RecommendationsServed`` page of 20 items) to a fresh
stream, and times one :class:`~nova.platform.events.ConsumerRunner` draining them into an
embedded ClickHouse (chdb, in a temporary directory) in each :data:`MODES`:

===========  ==================================================================================
mode         consumer
===========  ==================================================================================
``event``    the sink's per-event handler (:meth:`AnalyticsSink.record`: one ``INSERT`` per
             table per event, one transaction per event): the sink before batch inserts
``tx``       the same handler with ``batched=True`` (one transaction per batch), to tell the
             two savings apart
``batch``    :meth:`AnalyticsSink.consumer`: one ``INSERT`` per table and one transaction per
             fetched batch
===========  ==================================================================================

CPU is this process's (chdb runs in it). Run it against servers you own; the database must be
migrated::

    python -m nova.analytics_sink.bench postgresql://postgres@127.0.0.1/nova \\
        redis://127.0.0.1:6379/0 --events 3000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Literal

import redis.asyncio as aioredis

from nova.analytics_sink.sink import ENGAGEMENT, RECOMMENDATIONS, TABLES, AnalyticsSink
from nova.platform import analytics
from nova.platform.db import Database, PoolPolicy
from nova.platform.embedded import EmbeddedClickHouse
from nova.platform.events import Consumer, StoredEvent
from nova.platform.events.consumer_bench import drain
from nova.platform.ids import new_id

__all__ = ["MODES", "Mode", "SinkBenchResult", "measure"]

Mode = Literal["event", "tx", "batch"]
#: What each mode runs (see the module docstring).
MODES: dict[Mode, str] = {
    "event": "INSERT and transaction per event",
    "tx": "INSERT per event, transaction per batch",
    "batch": "INSERT and transaction per batch",
}


@dataclasses.dataclass(frozen=True, slots=True)
class SinkBenchResult:
    """One timed drain."""

    mode: Mode
    events: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        """Events applied per second (wall clock)."""
        return self.events / self.seconds

    @property
    def cpu_ms_per_event(self) -> float:
        """This process's CPU per event, in milliseconds."""
        return self.cpu_seconds * 1e3 / self.events


def _event(i: int, now: dt.datetime) -> StoredEvent:
    event_type = "Liked"
    payload: dict[str, object] = {"post_id": f"p{i % 500}", "user_id": f"u{i}", "author_id": "a"}
    if i % 10 == 0:
        event_type, payload = "PostPublished", {**payload, "created_at": now.isoformat()}
    elif i % 10 == 5:
        items = [{"post_id": f"p{j}", "author_id": "a", "position": j} for j in range(20)]
        event_type, payload = "RecommendationsServed", {"user_id": f"u{i}", "items": items}
    return StoredEvent(
        seq=i,
        event_id=new_id(),
        tenant_id="default",
        event_type=event_type,
        aggregate_type="post",
        aggregate_id=f"p{i}",
        payload=payload,
        correlation_id=None,
        occurred_at=now,
        aggregate_version=1,
    )


async def measure(
    sink: AnalyticsSink,
    *,
    db: Database,
    redis: aioredis.Redis,
    events: int,
    mode: Mode,
    batch_size: int = 100,
) -> SinkBenchResult:
    """Drain ``events`` fresh events through one runner into ``sink``; return the time taken."""
    name = f"bench-sink-{uuid.uuid4().hex[:8]}"
    if mode == "batch":
        consumer = dataclasses.replace(sink.consumer(), name=name)
    else:
        handlers = {t: [sink.record] for t in ENGAGEMENT | RECOMMENDATIONS}
        consumer = Consumer(name, handlers=handlers, batched=mode == "tx")
    now = dt.datetime.now(dt.UTC)
    batch = [_event(i, now) for i in range(events)]
    done = await drain(consumer, batch, db=db, redis=redis, batch_size=batch_size)
    return SinkBenchResult(mode, done.events, done.seconds, done.cpu_seconds)


async def _main(args: argparse.Namespace) -> None:
    db = await Database.connect(args.database_url, policy=PoolPolicy(size=4))
    redis = aioredis.Redis.from_url(args.redis_url, socket_timeout=5)
    data_dir = Path(tempfile.mkdtemp(prefix="nova-sink-bench-"))
    engine = EmbeddedClickHouse(data_dir)
    engine.start()
    try:
        ch = analytics.connect("chdb:///unused", session=engine.session)
        sink = AnalyticsSink(ch)
        await sink.create_schema()
        for mode, title in MODES.items():
            result = await measure(sink, db=db, redis=redis, events=args.events, mode=mode)
            for table in TABLES:
                await ch.command(f"TRUNCATE TABLE {table}")
            print(  # noqa: T201  # a command-line report
                f"{title:>39}: {result.events} events in {result.seconds:.2f} s"
                f" = {result.rate:,.0f} events/s, {result.cpu_ms_per_event:.2f} ms CPU/event"
            )
    finally:
        engine.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        await redis.aclose()
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("redis_url")
    parser.add_argument("--events", type=int, default=3_000)
    asyncio.run(_main(parser.parse_args()))
