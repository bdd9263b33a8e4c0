"""Spans recorded in memory, and log lines captured as JSON, for observability tests."""

from __future__ import annotations

import io
import json
import logging
from typing import TYPE_CHECKING

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nova.platform.config import LogFormat
from nova.platform.observability import logs, tracing

if TYPE_CHECKING:
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
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure(service="nova-test", fmt=LogFormat.JSON, level="DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()


def parse_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    """The JSON objects written to ``buffer``."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
