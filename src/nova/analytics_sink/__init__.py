"""The analytics sink: engagement events and feed candidates from the event log to ClickHouse.

The event types it records are :data:`nova.analytics_sink.sink.ENGAGEMENT` and
:data:`~nova.analytics_sink.sink.RECOMMENDATIONS`, with one ``INSERT`` per table per fetched batch
of events (``python -m nova.analytics_sink.bench`` measures it).
"""

from nova.analytics_sink.sink import AnalyticsSink

__all__ = ["AnalyticsSink"]
