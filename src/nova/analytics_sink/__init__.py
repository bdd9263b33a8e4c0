"""The analytics sink: engagement events and feed candidates from the event log to ClickHouse.

The event types it records are :data:`nova.analytics_sink.sink.ENGAGEMENT`.
"""

from nova.analytics_sink.sink import AnalyticsSink

__all__ = ["AnalyticsSink"]
