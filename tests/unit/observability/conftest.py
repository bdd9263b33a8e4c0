"""Spans recorded in memory, and log lines captured as JSON, for observability tests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nova.platform.observability import tracing
from tests.capture import json_log_lines

if TYPE_CHECKING:
    import io
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def _session_spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(service="nova-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


@pytest.fixture
def spans(_session_spans: InMemorySpanExporter) -> InMemorySpanExporter:
    """The process's in-memory span exporter, emptied for this test."""
    _session_spans.clear()
    return _session_spans


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON log lines of this test, at DEBUG."""
    with json_log_lines("nova-test") as buffer:
        yield buffer


def parse_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    """The JSON objects written to ``buffer``."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
