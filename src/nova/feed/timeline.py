"""Home timelines in Redis: one capped sorted set of post ids per user.

Key ``{prefix}tl:{user_id}``; members are post ids (canonical UUID text), scores the
millisecond time inside the UUIDv7. Within one millisecond Redis orders equal scores by member,
and canonical UUID text sorts like the UUID, so the set is in post-id order throughout.

A timeline rebuilt from PostgreSQL carries a *complete* marker (member ``~`` at score
``+inf``): only then is it trusted as the whole recent history. A key that fan-out created for
a user who never read their feed lacks the marker, so the next read rebuilds it (and keeps what
fan-out pushed). Every write trims the set to the cap. Reads and rebuilds refresh the TTL,
pushes do not (see ``_PUSH``), so timelines of users who stop reading disappear by themselves
before fan-out stops serving them.

Every call goes to Redis once (pipelined); callers handle
:data:`~nova.platform.cache.REDIS_ERRORS`.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING

from redis.exceptions import NoScriptError

from nova.platform.ids import id_time_ms

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis.asyncio as aioredis

__all__ = ["Timeline", "TimelineSlice"]

_COMPLETE = "~"

# Push to a group of timelines: add, trim to the cap (+1 for the complete marker), and give a
# key that fan-out just created a TTL. An existing key's TTL is left alone on purpose: only
# reads (and rebuilds) extend a timeline's life, so a timeline outlives its reader's last visit
# by at most the TTL, which is shorter than the activity window that decides who receives
# pushes. A complete timeline therefore never exists for a user fan-out has stopped serving.
_PUSH = """
local cap = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[2])
  redis.call('ZREMRANGEBYRANK', key, 0, -(cap + 2))
  if redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ARGV[4]) end
end
return #KEYS
"""


@dataclasses.dataclass(frozen=True, slots=True)
class TimelineSlice:
    """Ids read from one timeline.

    Attributes:
        post_ids: Newest first, all older than the requested bound.
        complete: The timeline was built from PostgreSQL (not only pushed to by fan-out).
        exhausted: Fewer ids than asked were left below the bound.
        size: Post ids held by the timeline.
    """

    post_ids: list[uuid.UUID]
    complete: bool
    exhausted: bool
    size: int


class Timeline:
    """The Redis side of home feeds.

    Args:
        redis: A fail-fast client (:func:`nova.platform.cache.connect`).
        prefix: The deployment's key prefix (``settings.redis_key_prefix``).
        cap: Post ids kept per timeline (``settings.timeline_cap``).
        ttl: Seconds a timeline lives after its last read or rebuild.
        keys_per_call: Timelines updated per script call during fan-out. Per-command overhead
            in the client dominates fan-out cost, so grouping keys makes it several times
            faster; on Redis Cluster set it to 1 (a script may only touch keys of one slot).

    Example:
        >>> timeline = Timeline(redis, prefix="nova:", cap=800, ttl=86400)   # doctest: +SKIP
        >>> await timeline.push(post_id, [follower_a, follower_b])           # doctest: +SKIP
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        cap: int,
        ttl: int,
        keys_per_call: int = 100,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._cap = cap
        self._ttl = ttl
        self._push_sha: str | None = None
        self._keys_per_call = keys_per_call

    @property
    def cap(self) -> int:
        """Post ids kept per timeline."""
        return self._cap

    def key(self, user_id: uuid.UUID) -> str:
        """The Redis key of ``user_id``'s timeline."""
        return f"{self._prefix}tl:{user_id}"

    async def push(self, post_id: uuid.UUID, user_ids: Iterable[uuid.UUID]) -> None:
        """Add ``post_id`` to each user's timeline, trimming to the cap, in one round trip."""
        keys = [self.key(user_id) for user_id in user_ids]
        if not keys:
            return
        member, score = str(post_id), id_time_ms(post_id)
        for attempt in range(2):
            if self._push_sha is None:
                self._push_sha = str(await self._redis.script_load(_PUSH))
            pipe = self._redis.pipeline(transaction=False)
            step = self._keys_per_call
            for start in range(0, len(keys), step):
                group = keys[start : start + step]
                args = (score, member, self._cap, self._ttl)
                _queued(pipe.evalsha(self._push_sha, len(group), *group, *args))
            try:
                await pipe.execute()
            except NoScriptError:
                # Redis restarted or flushed its script cache: load the script again, once.
                self._push_sha = None
                if attempt:
                    raise
            else:
                return

    async def remove(self, post_ids: Sequence[uuid.UUID], user_ids: Iterable[uuid.UUID]) -> None:
        """Remove ``post_ids`` from each user's timeline in one round trip."""
        if not post_ids:
            return
        members = [str(p) for p in post_ids]
        pipe = self._redis.pipeline(transaction=False)
        count = 0
        for user_id in user_ids:
            _queued(pipe.zrem(self.key(user_id), *members))
            count += 1
        if count:
            await pipe.execute()

    async def fill(self, user_id: uuid.UUID, post_ids: Sequence[uuid.UUID]) -> None:
        """Store a rebuilt timeline and mark it complete (merging what fan-out pushed)."""
        key = self.key(user_id)
        mapping: dict[str, float] = {str(p): id_time_ms(p) for p in post_ids}
        mapping[_COMPLETE] = float("inf")
        # MULTI keeps readers from seeing the marker before the ids.
        pipe = self._redis.pipeline(transaction=True)
        _queued(
            pipe.zadd(key, mapping),
            pipe.zremrangebyrank(key, 0, -(self._cap + 2)),
            pipe.expire(key, self._ttl),
        )
        await pipe.execute()

    async def read(
        self, user_id: uuid.UUID, *, before: uuid.UUID | None, count: int
    ) -> TimelineSlice:
        """Up to ``count`` ids older than ``before`` (newest first), in one round trip.

        Reading is what keeps a timeline alive: it refreshes the TTL.
        """
        key = self.key(user_id)
        top: float | str = "+inf" if before is None else id_time_ms(before)
        # Ids in the bound's own millisecond score equal to it and are cut below; the slack
        # covers them and the complete marker, and the loop widens the read in the rare case
        # that one millisecond holds more.
        num = count + 8
        pipe = self._redis.pipeline(transaction=False)
        _queued(
            pipe.zscore(key, _COMPLETE),
            pipe.zcard(key),
            pipe.expire(key, self._ttl),
            pipe.zrevrangebyscore(key, top, "-inf", start=0, num=num),
        )
        marker, card, _, raw = await pipe.execute()
        while True:
            ids = _below(raw, before)
            if len(ids) >= count or len(raw) < num:
                break
            num *= 2
            raw = await self._redis.zrevrangebyscore(key, top, "-inf", start=0, num=num)
        complete = marker is not None
        size = int(card) - (1 if complete else 0)
        return TimelineSlice(
            post_ids=ids[:count], complete=complete, exhausted=len(ids) < count, size=size
        )


def _queued(*_commands: object) -> None:
    """Mark pipeline calls as queued: they return the pipeline, not awaitables to await."""


def _below(raw: Sequence[bytes | str], before: uuid.UUID | None) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    for member in raw:
        text = member.decode() if isinstance(member, bytes) else member
        if text == _COMPLETE:
            continue
        post_id = uuid.UUID(text)
        if before is None or post_id < before:
            ids.append(post_id)
    return ids
