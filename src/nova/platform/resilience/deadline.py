"""Deadlines: one remaining-time budget that flows from a request into every call it makes.

The gateway opens ``deadline(seconds)`` per request; code that calls another process asks
:func:`timeout` for the time it may spend, so a slow dependency can never make a request
outlive its budget. Nested deadlines only ever shrink the budget. The budget lives in a
:class:`contextvars.ContextVar`, so tasks spawned inside the block inherit it.

Example:
    >>> with deadline(2.0):
    ...     budget = timeout(0.5)   # min(0.5, time left of the 2 s)
    >>> budget <= 0.5
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import TYPE_CHECKING

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["DeadlineExceededError", "deadline", "remaining", "timeout"]

_expires_at: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "nova_deadline", default=None
)


class DeadlineExceededError(errors.UnavailableError):
    """The request's time budget is spent; the call was not attempted."""


@contextlib.contextmanager
def deadline(seconds: float, *, clock: Callable[[], float] = time.monotonic) -> Iterator[float]:
    """Run the block with at most ``seconds`` left (never more than an enclosing deadline).

    Yields:
        The absolute expiry on ``clock``.
    """
    expires = clock() + seconds
    outer = _expires_at.get()
    if outer is not None:
        expires = min(expires, outer)
    token = _expires_at.set(expires)
    try:
        yield expires
    finally:
        _expires_at.reset(token)


def remaining(*, clock: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds left in the current deadline, or None when no deadline is set."""
    expires = _expires_at.get()
    return None if expires is None else expires - clock()


def timeout(cap: float, *, clock: Callable[[], float] = time.monotonic) -> float:
    """The timeout for one outgoing call: ``cap``, shortened to what the deadline leaves.

    Raises:
        DeadlineExceededError: nothing is left; do not start the call.
    """
    left = remaining(clock=clock)
    if left is None:
        return cap
    if left <= 0:
        raise DeadlineExceededError("The request ran out of time.", retry_after=0.5)
    return min(cap, left)
