"""A time-rotated Bloom filter in Redis (plain bitmaps + Lua; Redis 7.0 has no Bloom module).

It answers "certainly new" without touching the exact store. "Maybe seen" is only a hint:
the consumer runner confirms it against ``processed_events`` before skipping anything, so a
false positive costs one lookup and never loses an event (DESIGN.md invariant 2).

Sizing (per rotation window): ``m = -n ln p / (ln 2)^2`` bits and ``k = m/n ln 2`` hashes for
``n`` = expected events per window and ``p`` = target false-positive rate. A probe checks the
current and the previous window (so an event seen just before a rotation is still caught);
while both are full the combined rate approaches ``2p``. Keys expire after two windows.

Positions use double hashing (Kirsch-Mitzenmacher) over a 128-bit BLAKE2b digest.

Example:
    >>> policy = BloomPolicy(capacity=1_000_000, error_rate=0.01, rotation=3600)
    >>> policy.bits, policy.hashes
    (9585059, 7)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis.asyncio as aioredis

__all__ = ["BloomFilter", "BloomPolicy"]

_SCRIPT = """
local op, k, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / k
if op == 'add' then
  for i = 4, #ARGV do redis.call('SETBIT', KEYS[1], ARGV[i], 1) end
  redis.call('EXPIRE', KEYS[1], ttl)
  return n
end
local out = {}
for j = 0, n - 1 do
  local seen = 0
  for _, key in ipairs(KEYS) do
    local all = 1
    for i = 1, k do
      if redis.call('GETBIT', key, ARGV[3 + j * k + i]) == 0 then all = 0; break end
    end
    if all == 1 then seen = 1; break end
  end
  out[j + 1] = seen
end
return out
"""

_MASK64 = (1 << 64) - 1


@dataclasses.dataclass(frozen=True, slots=True)
class BloomPolicy:
    """How big the filter is and how often it rotates.

    Attributes:
        capacity: Expected distinct items per rotation window.
        error_rate: Target false-positive rate at capacity (0 < p < 1).
        rotation: Window length in seconds.
    """

    capacity: int = 1_000_000
    error_rate: float = 0.01
    rotation: float = 3600.0

    def __post_init__(self) -> None:
        if self.capacity < 1 or not 0 < self.error_rate < 1 or self.rotation <= 0:
            raise ValueError("capacity >= 1, 0 < error_rate < 1 and rotation > 0 are required")

    @property
    def bits(self) -> int:
        """Bits per window (``m``)."""
        return math.ceil(-self.capacity * math.log(self.error_rate) / math.log(2) ** 2)

    @property
    def hashes(self) -> int:
        """Hash functions (``k``)."""
        return max(1, round(self.bits / self.capacity * math.log(2)))

    @property
    def expected_rate(self) -> float:
        """False-positive rate at capacity for the rounded ``m`` and ``k``."""
        k, m, n = self.hashes, self.bits, self.capacity
        return float((1 - math.exp(-k * n / m)) ** k)


class BloomFilter:
    """A rotating Bloom filter over Redis bitmaps.

    Args:
        redis: Client (fail-fast; callers treat errors as "maybe seen").
        name: Key prefix of this filter; a hash tag keeps both windows in one cluster slot.
        policy: Sizing and rotation.
        clock: Seconds since the epoch (tests move time).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        name: str,
        policy: BloomPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._name = name
        self.policy = policy
        self._clock = clock
        self._script = redis.register_script(_SCRIPT)
        self._ttl = math.ceil(policy.rotation * 2) + 60

    def _keys(self) -> tuple[str, str]:
        window = int(self._clock() // self.policy.rotation)
        return f"{{{self._name}}}:{window}", f"{{{self._name}}}:{window - 1}"

    def _positions(self, item: bytes) -> list[int]:
        digest = hashlib.blake2b(item, digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        m = self.policy.bits
        return [((h1 + i * h2) & _MASK64) % m for i in range(self.policy.hashes)]

    async def maybe_contains(self, items: Sequence[bytes]) -> list[bool]:
        """For each item: ``False`` = certainly never added; ``True`` = maybe added."""
        if not items:
            return []
        args: list[int | str] = ["check", self.policy.hashes, self._ttl]
        for item in items:
            args.extend(self._positions(item))
        reply = await self._script(keys=list(self._keys()), args=args)
        return [bool(x) for x in reply]

    async def add(self, items: Sequence[bytes]) -> None:
        """Add ``items`` to the current window."""
        if not items:
            return
        args: list[int | str] = ["add", self.policy.hashes, self._ttl]
        for item in items:
            args.extend(self._positions(item))
        await self._script(keys=[self._keys()[0]], args=args)
