"""A small OTLP/HTTP trace receiver for end-to-end tests: what every process exported.

Processes export with ``NOVA_OTLP_ENDPOINT=<collector.endpoint>``; the receiver decodes each
``ExportTraceServiceRequest`` (protobuf, optionally gzip) with ``opentelemetry-proto`` and keeps
the spans with the ``service.name`` of the process that sent them.

Example:
    >>> with Collector() as collector:                        # doctest: +SKIP
    ...     env["NOVA_OTLP_ENDPOINT"] = collector.endpoint
    ...     spans = collector.trace(trace_id)
"""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from typing_extensions import override

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["Collector", "Exported"]

#: OTLP span kinds by their proto number.
KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Exported:
    """One span as a process exported it."""

    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    return getattr(value, field) if field else None


class _Receiver(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received(ExportTraceServiceRequest.FromString(body))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reports what it received, not every POST."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receiver)
        self.spans: list[Exported] = []
        self.requests = 0
        self._lock = threading.Lock()

    def received(self, request: ExportTraceServiceRequest) -> None:
        batch = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(attributes.get("service.name", "?"))
            for scope in resource_spans.scope_spans:
                batch += [
                    Exported(
                        service=service,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=KINDS.get(span.kind, "unspecified"),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                    for span in scope.spans
                ]
        with self._lock:
            self.spans += batch
            self.requests += 1


class Collector:
    """An OTLP/HTTP receiver on a free loopback port, serving from a thread while open."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        port = self._server.server_address[1]
        #: The URL to export to (``NOVA_OTLP_ENDPOINT``).
        self.endpoint = f"http://127.0.0.1:{port}/v1/traces"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def spans(self) -> list[Exported]:
        """Every span received so far."""
        return list(self._server.spans)

    def trace(self, trace_id: str) -> list[Exported]:
        """The spans of one trace received so far."""
        return [span for span in self.spans if span.trace_id == trace_id]
