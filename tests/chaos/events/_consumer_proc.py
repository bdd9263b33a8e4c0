"""A consumer process for kill -9 tests: ``python -m tests.chaos.events._consumer_proc``.

argv: database URL, Redis URL, key prefix, member name.
"""

from __future__ import annotations

import asyncio
import sys

from nova.platform.db import Database, PoolPolicy
from nova.platform.events import ConsumerPolicy, ConsumerRunner, redis_log
from tests.integration.events._support import sink_consumer


async def main(database_url: str, redis_url: str, prefix: str, member: str) -> None:
    db = await Database.connect(database_url, policy=PoolPolicy(size=2))
    log = redis_log.connect(redis_url, prefix=prefix, timeout=1.0)
    policy = ConsumerPolicy(batch_size=20, wait=0.1, redeliver_after=0.2)
    runner = ConsumerRunner(sink_consumer(), db=db, log=log, policy=policy, member=member)
    await runner.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
