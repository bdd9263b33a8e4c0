"""The event log on Redis Streams: one stream per deployment, consumer groups, a DLQ stream.

Keys (under the deployment prefix ``p``)::

    p events               the log (XADD; field ``e`` holds the JSON envelope)
    p events:dlq           dead letters (fields e, group, error, attempts, failed_at)
    p events:err:<group>   hash position -> last error of a pending delivery

Crashed members' deliveries are taken over with ``XAUTOCLAIM`` once idle for
``redeliver_after``; their attempt counts come from ``XPENDING``. :meth:`compact` trims with
``XTRIM MINID`` below the smallest id any group still needs (its oldest pending entry, else
the entry after its last-delivered one), so an unacknowledged entry is never trimmed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from typing_extensions import override

from nova.platform.events import envelope
from nova.platform.events.log import DeadLetter, Delivery, EventLog

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.platform.events.envelope import StoredEvent

__all__ = ["RedisStreamLog", "connect"]

_MAX_ERROR = 2_000
#: Idle time given to a deferred delivery: longer than any ``redeliver_after``, so it is due.
_DUE_IDLE_MS = 365 * 86_400 * 1000


def connect(url: str, *, prefix: str, timeout: float = 2.0) -> RedisStreamLog:
    """A Redis Streams log at ``url`` whose every command fails within ``timeout`` seconds.

    Blocking reads wait at most half of ``timeout`` so they never trip the socket timeout.
    """
    client = aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        max_connections=32,
    )
    return RedisStreamLog(client, prefix=prefix, block_cap=timeout / 2, owns_client=True)


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _next_id(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class RedisStreamLog(EventLog):
    """:class:`~nova.platform.events.log.EventLog` on Redis Streams (Redis 6.2+).

    Args:
        client: A Redis client with short timeouts and no retries.
        prefix: Deployment key prefix.
        block_cap: Longest blocking read, in seconds (below the client's socket timeout).
        owns_client: Close ``client`` in :meth:`aclose`.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        block_cap: float = 1.0,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.stream = f"{prefix}events"
        self.dlq = f"{prefix}events:dlq"
        self._prefix = prefix
        self._block_cap = block_cap
        self._owns = owns_client

    async def aclose(self) -> None:
        """Close the client if this log owns it."""
        if self._owns:
            await self.client.aclose()

    def _errors(self, group: str) -> str:
        return f"{self._prefix}events:err:{group}"

    @override
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            _ = pipe.xadd(self.stream, {"e": envelope.encode(event)})
        await pipe.execute()

    @override
    async def ensure_group(self, group: str) -> None:
        try:
            await self.client.xgroup_create(self.stream, group, id="0", mkstream=True)
        except aioredis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @override
    async def fetch(
        self, group: str, member: str, *, limit: int, wait: float, redeliver_after: float
    ) -> list[Delivery]:
        claimed = await self.client.xautoclaim(
            self.stream,
            group,
            member,
            min_idle_time=max(1, int(redeliver_after * 1000)),
            start_id="0-0",
            count=limit,
        )
        entries = [(_s(i), f) for i, f in claimed[1] if f]
        if entries:
            return await self._redeliveries(group, entries)
        block = int(min(wait, self._block_cap) * 1000)
        reply: Any = await self.client.xreadgroup(
            group, member, {self.stream: ">"}, count=limit, block=block or None
        )
        fresh = [(_s(i), f) for _stream, items in reply or () for i, f in items if f]
        found = [await self._delivery(group, i, f, 1, None) for i, f in fresh]
        return [d for d in found if d is not None]

    async def _redeliveries(
        self, group: str, entries: list[tuple[str, dict[bytes, bytes]]]
    ) -> list[Delivery]:
        ids = [i for i, _ in entries]
        lo, hi = min(ids, key=_id_key), max(ids, key=_id_key)
        info: Any = await self.client.xpending_range(
            self.stream, group, min=lo, max=hi, count=len(ids) + 100
        )
        counts = {_s(p["message_id"]): int(p["times_delivered"]) for p in info}
        errors = await self.client.hmget(self._errors(group), ids)
        found = [
            await self._delivery(group, i, f, counts.get(i, 2), _s(e) if e else None)
            for (i, f), e in zip(entries, errors, strict=True)
        ]
        return [d for d in found if d is not None]

    async def _delivery(
        self,
        group: str,
        position: str,
        fields: dict[bytes, bytes],
        attempts: int,
        error: str | None,
    ) -> Delivery | None:
        try:
            event = envelope.decode(fields[b"e"])
        except (KeyError, ValueError) as exc:
            # An undecodable entry can never succeed: park it raw in the DLQ right away.
            await self._park_raw(group, position, fields, repr(exc))
            return None
        return Delivery(event=event, position=position, attempts=attempts, last_error=error)

    async def _park_raw(
        self, group: str, position: str, fields: dict[bytes, bytes], error: str
    ) -> None:
        pipe = self.client.pipeline(transaction=True)
        parked: dict[Any, Any] = {**fields, b"group": group, b"error": error[:_MAX_ERROR]}
        _ = pipe.xadd(self.dlq, parked)
        _ = pipe.xack(self.stream, group, position)
        await pipe.execute()

    @override
    async def ack(self, group: str, positions: Sequence[str]) -> None:
        if not positions:
            return
        pipe = self.client.pipeline(transaction=False)
        _ = pipe.xack(self.stream, group, *positions)
        _ = pipe.hdel(self._errors(group), *positions)
        await pipe.execute()

    @override
    async def record_failure(self, group: str, position: str, error: str) -> None:
        await self.client.hset(self._errors(group), position, error[:_MAX_ERROR])

    @override
    async def defer(self, group: str, member: str, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        pipe = self.client.pipeline(transaction=False)
        for d in deliveries:
            # RETRYCOUNT undoes this delivery's count; a long IDLE makes it due for XAUTOCLAIM.
            _ = pipe.xclaim(
                self.stream,
                group,
                member,
                min_idle_time=0,
                message_ids=[d.position],
                idle=_DUE_IDLE_MS,
                retrycount=max(0, d.attempts - 1),
                justid=True,
            )
        await pipe.execute()

    @override
    async def dead_letter(self, group: str, delivery: Delivery, error: str) -> None:
        fields: dict[Any, Any] = {
            "e": envelope.encode(delivery.event),
            "group": group,
            "error": error[:_MAX_ERROR],
            "attempts": delivery.attempts,
            "failed_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        pipe = self.client.pipeline(transaction=True)
        _ = pipe.xadd(self.dlq, fields)
        _ = pipe.xack(self.stream, group, delivery.position)
        _ = pipe.hdel(self._errors(group), delivery.position)
        await pipe.execute()

    @override
    async def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        entries: Any = await self.client.xrange(self.dlq, count=limit)
        return [self._dead(_s(i), f) for i, f in entries]

    def _dead(self, position: str, f: dict[Any, Any]) -> DeadLetter:
        failed: Any = f.get(b"failed_at")
        return DeadLetter(
            position=position,
            group=_s(f.get(b"group", b"")),
            event=envelope.decode(f[b"e"]),
            error=_s(f.get(b"error", b"")),
            attempts=int(f.get(b"attempts", b"0")),
            failed_at=dt.datetime.fromisoformat(_s(failed))
            if failed
            else dt.datetime.fromtimestamp(_id_key(position)[0] / 1000, dt.UTC),
        )

    @override
    async def dead_letter_count(self) -> int:
        return int(await self.client.xlen(self.dlq))

    @override
    async def replay_dead_letter(self, position: str) -> DeadLetter | None:
        entries: Any = await self.client.xrange(self.dlq, min=position, max=position)
        if not entries:
            return None
        dead = self._dead(position, entries[0][1])
        pipe = self.client.pipeline(transaction=True)
        _ = pipe.xadd(self.stream, {"e": envelope.encode(dead.event)})
        _ = pipe.xdel(self.dlq, position)
        await pipe.execute()
        return dead

    @override
    async def pending(self, group: str) -> int:
        try:
            summary = await self.client.xpending(self.stream, group)
        except aioredis.ResponseError as exc:
            if "NOGROUP" in str(exc):
                return 0  # the group has not been created yet: nothing was delivered to it
            raise
        return int(summary["pending"])

    @override
    async def lag(self, group: str) -> int | None:
        if not await self.client.exists(self.stream):
            return None
        for info in await self.client.xinfo_groups(self.stream):
            if _s(info["name"]) == group:
                lag = info.get("lag")  # Redis 7.0+; 6.2 does not report it
                return int(lag) if lag is not None else None
        return None

    @override
    async def compact(self) -> int:
        groups = await self.client.xinfo_groups(self.stream)
        if not groups:
            return 0  # nobody has read anything yet: everything is still needed
        floors: list[str] = []
        for info in groups:
            if int(info["pending"]):
                summary = await self.client.xpending(self.stream, info["name"])
                floors.append(_s(summary["min"]))
            else:
                floors.append(_next_id(_s(info["last-delivered-id"])))
        threshold = min(floors, key=_id_key)
        return int(await self.client.xtrim(self.stream, minid=threshold, approximate=False))
