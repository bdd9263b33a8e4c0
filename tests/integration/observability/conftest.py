"""Capture what a test's code emits: spans in memory, log lines as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nova.platform.observability import tracing
from tests.capture import json_log_lines

if TYPE_CHECKING:
    import io
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    """An in-memory span exporter installed for the module's tests."""
    spans = InMemorySpanExporter()
    tracing.configure(service="nova-test", exporter=spans)
    try:
        yield spans
    finally:
        tracing.shutdown()


@pytest.fixture
def log_service() -> str:
    """``service.name`` of the captured lines; a module overrides it to play another process."""
    return "nova"


@pytest.fixture
def log_buffer(log_service: str) -> Iterator[io.StringIO]:
    """The test's log lines, JSON at DEBUG; the previous logging set-up is restored after."""
    with json_log_lines(log_service) as buffer:
        yield buffer
