"""OpenTelemetry tracing: one provider per process, W3C trace context through HTTP and events.

=========================  ===================================================================
situation                  what happens
=========================  ===================================================================
nothing configured         the API's no-op tracer: spans cost almost nothing, ids are invalid
``configure()``            trace and span ids are generated (logs carry them); nothing is
                           recorded or exported
``otlp_endpoint`` set      spans are sampled (``sample_ratio``), batched and sent over
                           OTLP/HTTP; SQL (asyncpg) and Redis calls get their own spans
``exporter`` given         as above, but synchronously to that exporter (tests: in-memory)
=========================  ===================================================================

A request's trace continues through the events it causes: :func:`current_traceparent` is
stored in the event envelope by ``outbox.append``, and the consumer's span
(:func:`nova.platform.observability.handling.handling`) is a child of it.

Example:
    >>> configure(service="nova", otlp_endpoint="http://collector:4318/v1/traces")  # doctest: +SKIP
    >>> with tracer().start_as_current_span("rebuild timeline"):                   # doctest: +SKIP
    ...     ...
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Link, SpanKind
    from opentelemetry.trace.span import TraceState
    from opentelemetry.util.types import Attributes

__all__ = [
    "PROPAGATOR",
    "configure",
    "current_traceparent",
    "extract",
    "parent_context",
    "shutdown",
    "trace_id_of",
    "tracer",
]

#: W3C trace-context propagator (``traceparent`` / ``tracestate``), used for HTTP and events.
PROPAGATOR = TraceContextTextMapPropagator()

_TRACER_NAME = "nova"
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
#: Seconds the OTLP exporter may spend on one batch; the exporter runs off the request path.
_EXPORT_TIMEOUT = 5.0


class _Switch(Sampler):
    """A root sampler whose decision can be changed after tracers have been handed out.

    Tracers keep the sampler they were created with, and instrumented libraries create theirs
    once; swapping the delegate is the only way to turn recording on later (tests, reconfigure).
    """

    def __init__(self) -> None:
        self.delegate: Sampler = ALWAYS_OFF

    @override
    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    @override
    def get_description(self) -> str:
        return f"Switch{{{self.delegate.get_description()}}}"


class _Instrumentor(Protocol):
    def instrument(self, **kwargs: Any) -> None: ...
    def uninstrument(self, **kwargs: Any) -> None: ...


_switch = _Switch()
_provider: TracerProvider | None = None
_instrumented = False


def configure(
    *,
    service: str,
    otlp_endpoint: str | None = None,
    sample_ratio: float = 1.0,
    exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install Nova's tracer provider (once per process) and choose what is recorded.

    Calling it again adds exporters and changes the sampling decision; the service name of
    the first call stays (a process is one service).

    Args:
        service: ``service.name`` of every span.
        otlp_endpoint: OTLP/HTTP traces URL (``http://collector:4318/v1/traces``); ``None``
            exports nothing.
        sample_ratio: Fraction of new traces recorded when exporting (requests arriving with
            a sampled ``traceparent`` are recorded whatever it is).
        exporter: Extra exporter fed synchronously (tests use the in-memory one).

    Returns:
        The process's provider.
    """
    global _provider  # one provider per process: OpenTelemetry's global can be set only once
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": service}), sampler=ParentBased(_switch)
        )
        trace.set_tracer_provider(_provider)
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        otlp = OTLPSpanExporter(endpoint=otlp_endpoint, timeout=_EXPORT_TIMEOUT)
        _provider.add_span_processor(BatchSpanProcessor(otlp))
    exporting = exporter is not None or bool(otlp_endpoint)
    _switch.delegate = TraceIdRatioBased(sample_ratio) if exporting else ALWAYS_OFF
    if exporting:
        _instrument_libraries(_provider)
    return _provider


def _instrumentors() -> list[_Instrumentor]:
    # Imported late: only processes that export spans pay for loading the instrumentations.
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    # The asyncpg instrumentor declares no __init__ types; both are process-wide singletons.
    return [AsyncPGInstrumentor(), RedisInstrumentor()]  # type: ignore[no-untyped-call]


def _instrument_libraries(provider: TracerProvider) -> None:
    # Library spans only pay off when exported: without an exporter every SQL statement and
    # Redis command would still create a (non-recording) span on the hot path.
    global _instrumented  # instrumentation patches classes process-wide; do it once
    if _instrumented:
        return
    for instrumentor in _instrumentors():
        instrumentor.instrument(tracer_provider=provider)
    _instrumented = True


def shutdown() -> None:
    """Stop recording, undo library instrumentation and flush exporters (tests, exit)."""
    global _instrumented  # mirrors _instrument_libraries
    _switch.delegate = ALWAYS_OFF
    if _instrumented:
        for instrumentor in _instrumentors():
            instrumentor.uninstrument()
        _instrumented = False
    if _provider is not None:
        _provider.force_flush(timeout_millis=int(_EXPORT_TIMEOUT * 1000))


def tracer() -> trace.Tracer:
    """Nova's tracer (a no-op one until :func:`configure` has run)."""
    if _provider is not None:
        return _provider.get_tracer(_TRACER_NAME)
    return trace.get_tracer(_TRACER_NAME)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None outside a valid span.

    Example:
        >>> current_traceparent() is None  # no span here
        True
    """
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def parent_context(carried: str | None) -> Context | None:
    """The context to start a child span in, from what an event envelope carried.

    Args:
        carried: A ``traceparent`` (what :func:`current_traceparent` stores), or a bare
            32-hex trace id from a producer that kept only the id; the latter joins the trace
            under a synthetic parent span, as no span id survived.

    Returns:
        A context for ``start_as_current_span(context=...)``, or None to start a new trace.
    """
    if not carried:
        return None
    if _TRACE_ID.fullmatch(carried):
        span_context = trace.SpanContext(
            trace_id=int(carried, 16),
            span_id=int.from_bytes(secrets.token_bytes(8), "big") or 1,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    context = PROPAGATOR.extract({"traceparent": carried})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def trace_id_of(carried: str | None) -> str | None:
    """The 32-hex trace id in what an envelope carried (a ``traceparent`` or a bare id).

    Example:
        >>> trace_id_of("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        '0af7651916cd43dd8448eb211c80319c'
    """
    if not carried:
        return None
    if _TRACE_ID.fullmatch(carried):
        return carried
    match = _TRACEPARENT.fullmatch(carried)
    return match.group(1) if match else None


def extract(headers: Mapping[str, str]) -> Context:
    """The remote parent named by ``traceparent`` in ``headers`` (empty context when none)."""
    return PROPAGATOR.extract(dict(headers))
