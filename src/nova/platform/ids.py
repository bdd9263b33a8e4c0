"""Time-ordered identifiers (UUIDv7, RFC 9562).

Ids sort by creation time, so keyset pagination on ``id`` is chronological and B-tree inserts
stay at the right edge of the index.

Example:
    >>> a, b = new_id(), new_id()
    >>> a < b
    True
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["id_time_ms", "new_id"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> uuid.UUID:
    """Return a new UUIDv7; monotonic within this process even within one millisecond."""
    global _last_ms, _counter  # module-level monotonic clock state
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last_ms:
            # Same (or earlier) millisecond: keep the clock and bump the 12-bit counter so ids
            # from one process stay strictly increasing.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            now = _last_ms
        else:
            _last_ms = now
            _counter = int.from_bytes(os.urandom(2)) & 0x3FF
        counter = _counter
    rand = int.from_bytes(os.urandom(8)) & 0x3FFF_FFFF_FFFF_FFFF
    value = (now & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand
    return uuid.UUID(int=value)


def id_time_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds embedded in a UUIDv7."""
    return value.int >> 80
