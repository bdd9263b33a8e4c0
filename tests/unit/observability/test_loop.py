from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY

from nova.platform.observability import loop


async def test_a_blocked_loop_shows_up_as_lag() -> None:
    before = REGISTRY.get_sample_value("nova_event_loop_lag_seconds_count") or 0.0
    slow_before = REGISTRY.get_sample_value("nova_event_loop_lag_seconds_bucket", {"le": "0.025"})

    async with loop.monitoring(interval=0.01):
        await asyncio.sleep(0.005)
        time.sleep(0.06)  # blocks the loop on purpose  # noqa: ASYNC251
        await asyncio.sleep(0.03)

    assert (REGISTRY.get_sample_value("nova_event_loop_lag_seconds_count") or 0) > before
    fast = REGISTRY.get_sample_value("nova_event_loop_lag_seconds_bucket", {"le": "0.025"})
    total = REGISTRY.get_sample_value("nova_event_loop_lag_seconds_count")
    assert total is not None
    assert fast is not None
    # At least one sample landed above 25 ms: the one that waited out the blocking sleep.
    assert total - before > fast - (slow_before or 0.0)
