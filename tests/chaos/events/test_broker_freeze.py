"""RELIABILITY row 2: the broker frozen (SIGSTOP) while writes go on; ClickHouse sink after."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from nova.analytics_sink import AnalyticsSink
from nova.platform import analytics
from nova.platform.embedded import EmbeddedRedis
from nova.platform.events import ConsumerPolicy, ConsumerRunner, Event, outbox, redis_log

from ._harness import kill, start_relay, unpublished

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from nova.platform.db import Database

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis server this test owns (and may freeze); never the machine's shared one."""
    server = EmbeddedRedis(tmp_path / "broker")
    server.start()
    try:
        yield server
    finally:
        if server.pid:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()


def _liked(i: int) -> Event:
    return Event(
        "Liked",
        "post",
        f"post-{i % 40}",
        "default",
        {"post_id": f"post-{i % 40}", "user_id": f"u{i}", "author_id": "a"},
    )


@pytest.mark.parametrize(
    ("events", "freeze"), [(600, 4.0), pytest.param(5_000, 20.0, marks=pytest.mark.slow)]
)
async def test_a_frozen_broker_absorbs_writes_and_the_sink_gets_each_event_once(
    db: Database,
    database_url: str,
    own_redis: EmbeddedRedis,
    clickhouse: Any,
    key_prefix: str,
    events: int,
    freeze: float,
) -> None:
    ch = analytics.connect("chdb:///unused", session=clickhouse)
    await ch.command("DROP TABLE IF EXISTS engagement_events")
    sink = AnalyticsSink(ch)
    await sink.create_schema()
    relay = await start_relay(database_url, own_redis.url, key_prefix)
    await asyncio.sleep(1.5)  # start-up, so the baseline RSS is the running relay's
    rss = psutil.Process(relay.pid).memory_info().rss
    peak, ok, failed = rss, 0, 0
    assert own_redis.pid is not None
    frozen_at = 0.0
    try:
        for i in range(events):
            if i == events // 3:
                os.kill(own_redis.pid, signal.SIGSTOP)
                frozen_at = asyncio.get_running_loop().time()
            if i > events // 3 and asyncio.get_running_loop().time() - frozen_at > freeze:
                os.kill(own_redis.pid, signal.SIGCONT)
            try:
                async with db.write() as conn:
                    await outbox.append(conn, _liked(i))
                ok += 1
            except Exception:  # noqa: BLE001  # counted: the API success rate
                failed += 1
            if i % 50 == 0:
                peak = max(peak, psutil.Process(relay.pid).memory_info().rss)
            await asyncio.sleep(freeze * 1.5 / events)
        os.kill(own_redis.pid, signal.SIGCONT)
        async with asyncio.timeout(60):
            while await unpublished(db):  # noqa: ASYNC110  # polling state in PostgreSQL
                await asyncio.sleep(0.2)
    finally:
        await kill(relay)

    log = redis_log.connect(own_redis.url, prefix=key_prefix, timeout=2.0)
    try:
        runner = ConsumerRunner(sink.consumer(), db=db, log=log, policy=ConsumerPolicy(wait=0.1))
        await runner.drain()
    finally:
        await log.aclose()

    assert ok / events >= 0.999, (ok, failed)
    assert peak - rss < 50 * 2**20, (rss, peak)
    assert await sink.counts() == (events, events)
