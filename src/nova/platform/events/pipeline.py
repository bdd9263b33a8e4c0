"""One process's share of the event pipeline: a relay and a runner per consumer.

``nova up`` runs it inside the runtime; a cluster runs relays (``nova events relay``) and
consumers in their own deployments, with the same classes.

Example:
    >>> pipeline = EventPipeline.build(settings, db=db, consumers=[c])  # doctest: +SKIP
    >>> await pipeline.drain()                                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from nova.platform.events import redis_log
from nova.platform.events.bloom import BloomFilter, BloomPolicy
from nova.platform.events.consumer import ConsumerPolicy, ConsumerRunner
from nova.platform.events.relay import Relay, RelayPolicy
from nova.platform.observability import metrics

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nova.platform.config import Settings
    from nova.platform.db import Database
    from nova.platform.events.consumer import Consumer

__all__ = ["EventPipeline"]


def _secret(value: object) -> str:
    raw = getattr(value, "get_secret_value", lambda: None)()
    if not raw:
        raise RuntimeError("NOVA_DATABASE_URL and NOVA_REDIS_URL (or NOVA_EVENTS_URL) must be set")
    return str(raw)


@dataclasses.dataclass(slots=True, weakref_slot=True)
class EventPipeline:
    """A relay (unless left to other processes) and consumer runners sharing one log client."""

    log: redis_log.RedisStreamLog
    relay: Relay | None
    runners: list[ConsumerRunner]

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        db: Database,
        consumers: Sequence[Consumer],
        consumer_policy: ConsumerPolicy | None = None,
        relay_policy: RelayPolicy | None = None,
        relay: bool = True,
    ) -> EventPipeline:
        """Wire a pipeline from ``settings`` (nothing connects until it runs).

        ``relay=False`` runs only the consumers: another process relays the outbox.
        """
        dsn = _secret(settings.database_url).split(",")[0]
        url = _secret(settings.events_url or settings.redis_url)
        prefix = settings.redis_key_prefix
        log = redis_log.connect(url, prefix=prefix, timeout=settings.events_timeout)
        bloom_policy = BloomPolicy(
            capacity=settings.events_bloom_capacity,
            error_rate=settings.events_bloom_error_rate,
            rotation=settings.events_bloom_rotation,
        )
        policy = consumer_policy or ConsumerPolicy(
            redeliver_after=settings.events_redeliver_after,
            max_attempts=settings.events_max_attempts,
        )
        runners = [
            ConsumerRunner(
                c,
                db=db,
                log=log,
                bloom=BloomFilter(log.client, name=f"{prefix}bloom:{c.name}", policy=bloom_policy),
                policy=policy,
            )
            for c in consumers
        ]
        relayer = (
            Relay(dsn=dsn, log=log, policy=relay_policy or RelayPolicy.from_settings(settings))
            if relay
            else None
        )
        return cls(log=log, relay=relayer, runners=runners)

    async def run(self, stop: asyncio.Event) -> None:
        """Run the relay and every runner until ``stop`` is set."""
        async with asyncio.TaskGroup() as group:
            if self.relay is not None:
                group.create_task(self.relay.run(stop))
            for runner in self.runners:
                group.create_task(runner.run(stop))

    async def drain(self) -> int:
        """Publish and consume until quiet (tests and tools); return events applied."""
        total = 0
        while True:
            published = await self.relay.drain() if self.relay is not None else 0
            consumed = 0
            for runner in self.runners:
                consumed += await runner.drain()
            total += consumed
            if not published and not consumed:
                return total

    async def backlog(self) -> dict[tuple[str, ...], float]:
        """``(consumer, state)`` → entries, for the consumer-lag gauge.

        ``state`` is ``undelivered`` (in the log, not yet fetched by the group; left out when
        the broker cannot tell, e.g. Redis 6.2) or ``pending`` (fetched, not acknowledged).
        """
        out: dict[tuple[str, ...], float] = {}
        for runner in self.runners:
            name = runner.consumer.name
            out[(name, "pending")] = await self.log.pending(name)
            lag = await self.log.lag(name)
            if lag is not None:
                out[(name, "undelivered")] = lag
        return out

    async def dead_letters(self) -> dict[tuple[str, ...], float]:
        """``() → length`` of the dead-letter log, for the unlabelled gauge."""
        return {(): await self.log.dead_letter_count()}

    def export_metrics(self) -> None:
        """Export consumer lag and the dead-letter count, read from the log at each scrape."""
        metrics.watch_gauges(
            "events_consumer_lag",
            "Entries per consumer group not yet delivered (undelivered) or not acknowledged"
            " (pending).",
            self.backlog,
            labels=("consumer", "state"),
        )
        metrics.watch_gauges(
            "events_dead_letters", "Events in the dead-letter log.", self.dead_letters
        )

    async def aclose(self) -> None:
        """Close the relay's connection and the log client."""
        if self.relay is not None:
            await self.relay.close()
        await self.log.aclose()
