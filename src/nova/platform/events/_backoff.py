"""A tiny circuit breaker with capped, jittered exponential backoff for the event pipeline.

Local because ``nova.platform.resilience`` has no breaker yet; replace it with that one when
it lands. One loop owns it, so "half-open" is simply the next attempt after the delay.
"""

from __future__ import annotations

import dataclasses
import logging
import random

__all__ = ["Backoff"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Backoff:
    """Consecutive failures open the breaker; each further failure doubles the wait up to a cap.

    Attributes:
        name: For log lines.
        base: First delay in seconds.
        cap: Longest delay in seconds.
        threshold: Consecutive failures before the breaker opens.
    """

    name: str
    base: float = 0.1
    cap: float = 5.0
    threshold: int = 3
    failures: int = 0
    opened: int = 0

    @property
    def is_open(self) -> bool:
        """True while failures keep happening (the loop is waiting between attempts)."""
        return self.failures >= self.threshold

    def failure(self, exc: BaseException) -> float:
        """Record a failure; return how long to wait before the next attempt."""
        self.failures += 1
        if self.failures == self.threshold:
            self.opened += 1
            logger.warning("%s: circuit open after %d failures: %r", self.name, self.failures, exc)
        # The exponent stops growing once the cap is reached: 2.0 ** 1024 overflows a float, and
        # an outage of hours is thousands of failures.
        doublings = min(self.failures - 1, 60)
        delay = min(self.cap, self.base * 2.0**doublings)
        # Full jitter in [delay/2, delay]: many relays must not retry in lock-step.
        return delay / 2 + random.random() * delay / 2  # noqa: S311  # jitter, not crypto

    def success(self) -> None:
        """Record a success (closes the breaker)."""
        if self.is_open:
            logger.warning("%s: circuit closed after %d failures", self.name, self.failures)
        self.failures = 0
