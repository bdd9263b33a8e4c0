"""The event pipeline's backoff: capped delays, also after an outage of thousands of failures."""

from __future__ import annotations

from nova.platform.events._backoff import Backoff


def test_delays_double_up_to_the_cap_and_stay_there_however_long_the_outage() -> None:
    backoff = Backoff("relay", base=0.1, cap=5.0, threshold=3)
    delays = [backoff.failure(RuntimeError("down")) for _ in range(5_000)]

    assert 0.05 <= delays[0] <= 0.1  # jittered within [delay/2, delay]
    assert 0.1 <= delays[1] <= 0.2
    assert all(2.5 <= d <= 5.0 for d in delays[10:])  # capped; 2.0 ** 1024 used to overflow
    assert backoff.is_open
    assert backoff.opened == 1

    backoff.success()
    assert backoff.failures == 0
    assert backoff.failure(RuntimeError("down")) <= 0.1
