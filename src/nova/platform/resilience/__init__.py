"""Resilience primitives: circuit breaker, singleflight, coalescer, deadlines, bulkhead.

Each is small, I/O-free and takes an injectable clock where time matters, so its behaviour is
unit-tested without sleeping.
"""

from nova.platform.resilience.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)
from nova.platform.resilience.bulkhead import Bulkhead, BulkheadFullError
from nova.platform.resilience.coalescer import Coalescer
from nova.platform.resilience.deadline import (
    DeadlineExceededError,
    deadline,
    remaining,
    timeout,
)
from nova.platform.resilience.singleflight import Singleflight

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "Bulkhead",
    "BulkheadFullError",
    "CircuitBreaker",
    "CircuitOpenError",
    "Coalescer",
    "DeadlineExceededError",
    "Singleflight",
    "deadline",
    "remaining",
    "timeout",
]
