"""Events: the envelope, the transactional outbox and its delivery worker."""

from nova.platform.events import inbox, outbox
from nova.platform.events.envelope import Event
from nova.platform.events.worker import Handler, OutboxWorker, StoredEvent

__all__ = ["Event", "Handler", "OutboxWorker", "StoredEvent", "inbox", "outbox"]
