"""Observability: one log vocabulary, traces, metrics and SLOs for every Nova process.

================  ===========================================================================
module            role
================  ===========================================================================
``logs``          structlog configuration, the field :data:`~logs.VOCABULARY`, ``bound``
``tracing``       the OpenTelemetry provider, OTLP export, W3C ``traceparent`` helpers
``metrics``       every Prometheus family (bounded labels) and the ``/metrics`` scrape
``exposition``    ``/metrics`` on its own port for gRPC-only processes (``NOVA_METRICS_PORT``)
``middleware``    per-request span, correlation id, access line and HTTP metrics (ASGI)
``operations``    per-GraphQL-operation span, RED metrics, business counters
``handling``      per-event publish and consumer spans, log context, delivery lag
``loop``          event-loop lag monitor
``slo``           ``slo.yaml`` → recording rules and burn-rate alerts
================  ===========================================================================

:func:`configure` sets up logs and traces from the settings at process start-up.
"""

from nova.platform.observability import (
    handling,
    logs,
    loop,
    metrics,
    middleware,
    operations,
    slo,
    tracing,
)
from nova.platform.observability._process import configure
from nova.platform.observability.middleware import RequestTelemetry

__all__ = [
    "RequestTelemetry",
    "configure",
    "handling",
    "logs",
    "loop",
    "metrics",
    "middleware",
    "operations",
    "slo",
    "tracing",
]
