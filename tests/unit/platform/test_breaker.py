from __future__ import annotations

import asyncio
import logging

import pytest

from nova.platform.resilience import BreakerPolicy, BreakerState, CircuitBreaker, CircuitOpenError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    clock: FakeClock, transitions: list[tuple[BreakerState, BreakerState]], **policy: float
) -> CircuitBreaker:
    defaults: dict[str, float] = {
        "window": 10,
        "minimum_calls": 4,
        "failure_rate": 0.5,
        "open_seconds": 5.0,
        "half_open_probes": 2,
    }
    defaults.update(policy)
    return CircuitBreaker(
        "dep",
        BreakerPolicy(
            window=int(defaults["window"]),
            minimum_calls=int(defaults["minimum_calls"]),
            failure_rate=defaults["failure_rate"],
            open_seconds=defaults["open_seconds"],
            half_open_probes=int(defaults["half_open_probes"]),
            slow_call_seconds=defaults.get("slow_call_seconds", float("inf")),
            slow_call_rate=defaults.get("slow_call_rate", 1.0),
        ),
        clock=clock,
        on_transition=lambda _name, old, new: transitions.append((old, new)),
    )


def state(breaker: CircuitBreaker) -> BreakerState:
    # A call, not the property, so mypy does not narrow the state between assertions.
    return breaker.state


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow()
        breaker.record_failure()


def test_stays_closed_below_minimum_calls() -> None:
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(FakeClock(), seen)
    fail(breaker, 3)
    assert state(breaker) is BreakerState.CLOSED
    assert seen == []


def test_closed_to_open_at_failure_rate() -> None:
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(FakeClock(), seen)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_success()
    fail(breaker, 1)
    assert state(breaker) is BreakerState.CLOSED  # 1/3, below minimum
    fail(breaker, 1)  # 2/4 = 0.5
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert seen == [(BreakerState.CLOSED, BreakerState.OPEN)]


def test_sliding_window_forgets_old_failures() -> None:
    breaker = make(FakeClock(), [], window=4, minimum_calls=4, failure_rate=0.75)
    fail(breaker, 2)
    for _ in range(4):
        assert breaker.allow()
        breaker.record_success()
    fail(breaker, 2)  # window now: ok ok fail fail -> 0.5 < 0.75
    assert state(breaker) is BreakerState.CLOSED


def test_slow_calls_open_the_breaker() -> None:
    breaker = make(FakeClock(), [], slow_call_seconds=0.1, slow_call_rate=0.5)
    for seconds in (0.5, 0.01, 0.5, 0.01):
        assert breaker.allow()
        breaker.record_success(seconds)
    assert state(breaker) is BreakerState.OPEN


def test_open_to_half_open_after_open_seconds() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(clock, seen)
    fail(breaker, 4)
    clock.now += 4.9
    assert state(breaker) is BreakerState.OPEN
    clock.now += 0.1
    assert state(breaker) is BreakerState.HALF_OPEN
    assert seen[-1] == (BreakerState.OPEN, BreakerState.HALF_OPEN)


def test_half_open_admits_exactly_n_probes_then_closes() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(clock, seen)
    fail(breaker, 4)
    clock.now += 5
    assert breaker.allow()
    assert breaker.allow()
    assert not breaker.allow()  # exactly two probes
    breaker.record_success()
    assert state(breaker) is BreakerState.HALF_OPEN
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert seen == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    fail(breaker, 3)  # the window was cleared on closing
    assert state(breaker) is BreakerState.CLOSED


def test_half_open_failure_reopens_and_restarts_the_timer() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(clock, seen)
    fail(breaker, 4)
    clock.now += 5
    assert breaker.allow()
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    clock.now += 4
    assert state(breaker) is BreakerState.OPEN
    clock.now += 1
    assert state(breaker) is BreakerState.HALF_OPEN
    assert seen[-2:] == [
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
    ]


def test_half_open_slow_probe_reopens() -> None:
    clock = FakeClock()
    breaker = make(clock, [], slow_call_seconds=0.1)
    fail(breaker, 4)
    clock.now += 5
    assert breaker.allow()
    breaker.record_success(1.0)
    assert state(breaker) is BreakerState.OPEN


def test_straggler_outcome_while_open_is_ignored() -> None:
    clock = FakeClock()
    breaker = make(clock, [])
    assert breaker.allow()  # admitted while closed, finishes after the breaker opened
    fail(breaker, 4)
    breaker.record_success()
    assert state(breaker) is BreakerState.OPEN


def test_reset_closes() -> None:
    seen: list[tuple[BreakerState, BreakerState]] = []
    breaker = make(FakeClock(), seen)
    fail(breaker, 4)
    breaker.reset()
    assert state(breaker) is BreakerState.CLOSED
    assert seen[-1] == (BreakerState.OPEN, BreakerState.CLOSED)


def test_every_transition_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    breaker = make(clock, [])
    with caplog.at_level(logging.WARNING, logger="nova.platform.resilience.breaker"):
        fail(breaker, 4)
        clock.now += 5
        _ = breaker.state
    records = [r for r in caplog.records if r.getMessage() == "circuit breaker transition"]
    assert [(getattr(r, "from_state", None), getattr(r, "to_state", None)) for r in records] == [
        ("closed", "open"),
        ("open", "half_open"),
    ]


async def test_call_raises_circuit_open_and_classifies_errors() -> None:
    clock = FakeClock()
    breaker = make(clock, [])

    async def boom() -> int:
        raise ValueError("not the dependency's fault")

    for _ in range(5):
        with pytest.raises(ValueError, match="fault"):
            await breaker.call(boom, is_failure=lambda exc: not isinstance(exc, ValueError))
    assert state(breaker) is BreakerState.CLOSED

    async def down() -> int:
        raise ConnectionError("refused")

    for _ in range(5):  # 5 failures of 10 calls
        with pytest.raises(ConnectionError):
            await breaker.call(down)

    async def ok() -> int:
        return 1

    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(ok)
    assert info.value.retryable


async def test_cancelled_probe_releases_its_slot() -> None:
    clock = FakeClock()
    breaker = make(clock, [], half_open_probes=1)
    fail(breaker, 4)
    clock.now += 5
    started = asyncio.Event()

    async def hang() -> int:
        started.set()
        await asyncio.sleep(10)
        return 1

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # No verdict from a cancelled probe: still half-open, and its slot is free again.
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
