"""Pure numbers of a load test: the arrival schedule, latency histograms, the knee.

Nothing here does I/O, so every rule is unit-tested (``tests/unit/bench``).

==========================  ===========================================================
name                        what it answers
==========================  ===========================================================
:func:`intended_times`      when request *i* of a constant-rate step is due
:class:`Latencies`          an HdrHistogram in microseconds, mergeable, summarized
:func:`find_knee`           the first step whose p99 or error rate crosses its bound
==========================  ===========================================================

Example:
    >>> intended_times(rate=4.0, duration=1.0)
    [0.0, 0.25, 0.5, 0.75]
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from hdrh.histogram import HdrHistogram

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Knee", "Latencies", "LatencySummary", "find_knee", "intended_times"]

#: Highest latency the histograms track, in microseconds (one minute).
_MAX_US = 60_000_000
_SIGNIFICANT_DIGITS = 3


def intended_times(*, rate: float, duration: float) -> list[float]:
    """Offsets (seconds from the step's start) at which each request is due.

    Open loop: the schedule depends only on the rate, never on responses, so a slow server
    cannot slow the arrivals down (which would hide its queueing: coordinated omission).

    Args:
        rate: Requests per second, > 0.
        duration: Seconds of the step, >= 0.

    Raises:
        ValueError: a rate <= 0 or a negative duration.
    """
    if rate <= 0 or duration < 0:
        raise ValueError(f"rate must be > 0 and duration >= 0 (got {rate}, {duration})")
    count = math.floor(rate * duration + 1e-9)
    return [i / rate for i in range(count)]


@dataclasses.dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of one histogram, in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    mean: float


class Latencies:
    """Latencies in microseconds (1 us .. 60 s, 3 significant digits).

    Example:
        >>> a, b = Latencies(), Latencies()
        >>> a.record_seconds(0.002); b.record_seconds(0.004)
        >>> a.merge(b).summary().count
        2
    """

    def __init__(self) -> None:
        self._hist = HdrHistogram(1, _MAX_US, _SIGNIFICANT_DIGITS)

    @property
    def count(self) -> int:
        """Values recorded."""
        return int(self._hist.get_total_count())

    def record_seconds(self, seconds: float) -> None:
        """Record one latency (clamped to the tracked range)."""
        self._hist.record_value(min(_MAX_US, max(1, round(seconds * 1_000_000))))

    def merge(self, other: Latencies) -> Latencies:
        """Add ``other``'s values into this histogram; returns self."""
        self._hist.add(other._hist)
        return self

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (0..100), in ms; 0 when empty."""
        if self.count == 0:
            return 0.0
        return float(self._hist.get_value_at_percentile(percentile)) / 1000

    def summary(self) -> LatencySummary:
        """p50, p90, p99, p99.9, max and mean in ms."""
        empty = self.count == 0
        return LatencySummary(
            count=self.count,
            p50=self.percentile_ms(50),
            p90=self.percentile_ms(90),
            p99=self.percentile_ms(99),
            p999=self.percentile_ms(99.9),
            max=0.0 if empty else float(self._hist.get_max_value()) / 1000,
            mean=0.0 if empty else float(self._hist.get_mean_value()) / 1000,
        )

    def encode(self) -> str:
        """The histogram in HdrHistogram's compressed base64 form (for the JSON report)."""
        return bytes(self._hist.encode()).decode("ascii")

    @classmethod
    def merged(cls, parts: Iterable[Latencies]) -> Latencies:
        """One histogram holding every value of ``parts``."""
        total = cls()
        for part in parts:
            total.merge(part)
        return total


@dataclasses.dataclass(frozen=True, slots=True)
class Knee:
    """Where a sweep stopped being acceptable.

    Attributes:
        index: Position of the first failing step, or None when every step passed.
        rate: Its offered rate (req/s), or None.
        reason: Why it failed (``p99 41.2 ms > 25 ms``), or ``""``.
        last_good_rate: The highest rate before it that passed, or None.
    """

    index: int | None
    rate: float | None
    reason: str
    last_good_rate: float | None


def find_knee(
    steps: Sequence[tuple[float, float, float]], *, p99_bound_ms: float, max_error_rate: float
) -> Knee:
    """The first step whose p99 exceeds ``p99_bound_ms`` or whose error rate exceeds the bound.

    Args:
        steps: ``(rate, p99_ms, error_rate)`` per step, in increasing rate.
        p99_bound_ms: Acceptable p99.
        max_error_rate: Acceptable share of failed requests (0.001 = 0.1 %).
    """
    last_good: float | None = None
    for index, (rate, p99, error_rate) in enumerate(steps):
        reasons = []
        if p99 > p99_bound_ms:
            reasons.append(f"p99 {p99:.1f} ms > {p99_bound_ms:g} ms")
        if error_rate > max_error_rate:
            reasons.append(f"errors {error_rate:.2%} > {max_error_rate:.2%}")
        if reasons:
            return Knee(index=index, rate=rate, reason="; ".join(reasons), last_good_rate=last_good)
        last_good = rate
    return Knee(index=None, rate=None, reason="", last_good_rate=last_good)
