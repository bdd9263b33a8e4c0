"""Events: envelope, outbox, relay, event log, consumer runners, dedup, audit store.

=======================  ==================================================================
module                   role
=======================  ==================================================================
``envelope``             :class:`Event` (written) and :class:`StoredEvent` (carried)
``outbox``               ``append`` in the business transaction
``relay``                outbox → event log, in order per aggregate, never skipping a row
``log`` / ``redis_log``  the event-log port and its Redis Streams backend
``consumer``             at-least-once runners with exact-once effects by ``event_id``
``bloom``                the Redis Bloom filter in front of the exact store
``inbox``                the exact store (``processed_events``)
``audit``                the append-only, hash-chained audit store
``replay``               rebuild tables from the audited events and report differences
``worker``               direct in-process delivery (tests, tools)
=======================  ==================================================================
"""

from nova.platform.events import audit, inbox, outbox, replay
from nova.platform.events.bloom import BloomFilter, BloomPolicy
from nova.platform.events.consumer import (
    Applying,
    BatchHandler,
    Consumer,
    ConsumerPolicy,
    ConsumerRunner,
    EventHandler,
    plain,
)
from nova.platform.events.envelope import Event, StoredEvent
from nova.platform.events.log import DeadLetter, Delivery, EventLog
from nova.platform.events.pipeline import EventPipeline
from nova.platform.events.redis_log import RedisStreamLog
from nova.platform.events.relay import Relay, RelayPolicy
from nova.platform.events.worker import Handler, OutboxWorker

__all__ = [
    "Applying",
    "BatchHandler",
    "BloomFilter",
    "BloomPolicy",
    "Consumer",
    "ConsumerPolicy",
    "ConsumerRunner",
    "DeadLetter",
    "Delivery",
    "Event",
    "EventHandler",
    "EventLog",
    "EventPipeline",
    "Handler",
    "OutboxWorker",
    "RedisStreamLog",
    "Relay",
    "RelayPolicy",
    "StoredEvent",
    "audit",
    "inbox",
    "outbox",
    "plain",
    "replay",
]
