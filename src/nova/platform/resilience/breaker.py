"""A circuit breaker with sliding-window failure and slow-call rates.

::

    CLOSED --(window full enough and failure or slow rate >= threshold)--> OPEN
    OPEN   --(open_seconds elapsed, checked lazily on the next call)-----> HALF_OPEN
    HALF_OPEN admits exactly ``half_open_probes`` calls:
        all succeed  -> CLOSED (window cleared)
        one fails    -> OPEN (timer restarts)

Every transition writes one structured log line and calls the ``on_transition`` hook (the
metrics module counts them); state is read without I/O, so callers check it on hot paths.

Example:
    >>> breaker = CircuitBreaker("replica-0")
    >>> breaker.state
    <BreakerState.CLOSED: 'closed'>
    >>> async def load() -> int: return 1
    >>> # value = await breaker.call(load)   # raises CircuitOpenError while open
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
import time
from typing import TYPE_CHECKING, TypeVar

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "CircuitOpenError"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BreakerState(enum.StrEnum):
    """Where a breaker is in its cycle."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(errors.UnavailableError):
    """The breaker refused the call without trying it: the dependency is considered down."""


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers.

    Attributes:
        window: Outcomes remembered (a count-based sliding window).
        minimum_calls: Outcomes needed in the window before rates are judged.
        failure_rate: Failed fraction of the window at or above which the breaker opens.
        slow_call_seconds: A successful call slower than this counts as slow.
        slow_call_rate: Slow fraction of the window at or above which the breaker opens.
        open_seconds: How long the breaker stays open before admitting probes.
        half_open_probes: Calls admitted in half-open; all must succeed to close.
    """

    window: int = 20
    minimum_calls: int = 5
    failure_rate: float = 0.5
    slow_call_seconds: float = float("inf")
    slow_call_rate: float = 1.0
    open_seconds: float = 5.0
    half_open_probes: int = 1


class CircuitBreaker:
    """Stops calling a dependency that keeps failing, and probes it back to health.

    Args:
        name: Bounded label for logs and metrics (``redis``, ``replica-0``; never a user id).
        policy: Thresholds; the defaults suit a request path.
        clock: Monotonic seconds; tests pass a fake.
        on_transition: Hook called on every state change.
    """

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[str, BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._hooks: list[Callable[[str, BreakerState, BreakerState], None]] = []
        if on_transition is not None:
            self._hooks.append(on_transition)
        self._state = BreakerState.CLOSED
        # (failed, slow) per call, newest last.
        self._window: collections.deque[tuple[bool, bool]] = collections.deque(
            maxlen=self.policy.window
        )
        self._opened_at = 0.0
        self._probes_admitted = 0
        self._probes_passed = 0

    def add_hook(self, hook: Callable[[str, BreakerState, BreakerState], None]) -> None:
        """Also call ``hook`` on every transition."""
        self._hooks.append(hook)

    @property
    def state(self) -> BreakerState:
        """The current state (an elapsed open period turns into half-open here)."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.policy.open_seconds
        ):
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """Admit one call, or refuse it while open.

        An admitted call must be reported with :meth:`record_success` or
        :meth:`record_failure`. In half-open only ``half_open_probes`` calls are admitted.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._probes_admitted >= self.policy.half_open_probes:
            return False
        self._probes_admitted += 1
        return True

    def record_success(self, seconds: float = 0.0) -> None:
        """Report an admitted call that succeeded after ``seconds``."""
        self._record(failed=False, slow=seconds > self.policy.slow_call_seconds)

    def record_failure(self) -> None:
        """Report an admitted call that failed because of the dependency."""
        self._record(failed=True, slow=False)

    def abandon(self) -> None:
        """Report an admitted call that never reached the dependency (cancelled, rejected).

        It says nothing about health, but a half-open probe slot is handed back so the
        breaker cannot wait forever for an outcome that will not come.
        """
        if self._state is BreakerState.HALF_OPEN and self._probes_admitted > 0:
            self._probes_admitted -= 1

    def reset(self) -> None:
        """Close the breaker and forget every outcome (an operator's or a test's override)."""
        self._window.clear()
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED)

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[BaseException], bool] = lambda _exc: True,
    ) -> T:
        """Run ``fn`` through the breaker.

        Args:
            fn: The call to protect.
            is_failure: Whether an exception says the dependency is unhealthy (a
                not-found or a validation error does not).

        Raises:
            CircuitOpenError: the breaker is open (or half-open with every probe taken).
        """
        if not self.allow():
            raise CircuitOpenError(
                f"{self.name} is unavailable (circuit open); retry shortly.",
                retry_after=self.policy.open_seconds,
                dependency=self.name,
            )
        started = self._clock()
        try:
            result = await fn()
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self.abandon()  # cancelled: no verdict on the dependency
            elif is_failure(exc):
                self.record_failure()
            else:
                self.record_success(self._clock() - started)
            raise
        self.record_success(self._clock() - started)
        return result

    def _record(self, *, failed: bool, slow: bool) -> None:
        state = self.state
        if state is BreakerState.OPEN:
            return  # a straggler admitted before the breaker opened
        if state is BreakerState.HALF_OPEN:
            if failed or slow:
                self._open()
                return
            self._probes_passed += 1
            if self._probes_passed >= self.policy.half_open_probes:
                self._window.clear()
                self._transition(BreakerState.CLOSED)
            return
        self._window.append((failed, slow))
        calls = len(self._window)
        if calls < self.policy.minimum_calls:
            return
        failures = sum(1 for f, _ in self._window if f)
        slows = sum(1 for _, s in self._window if s)
        if (
            failures / calls >= self.policy.failure_rate
            or slows / calls >= self.policy.slow_call_rate
        ):
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(BreakerState.OPEN)

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        self._probes_admitted = 0
        self._probes_passed = 0
        logger.warning(
            "circuit breaker transition",
            extra={"breaker": self.name, "from_state": str(old), "to_state": str(new)},
        )
        for hook in self._hooks:
            hook(self.name, old, new)
