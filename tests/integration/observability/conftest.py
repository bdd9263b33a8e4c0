"""Capture what a test's code emits: spans in memory, log lines as JSON."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nova.platform.config import LogFormat
from nova.platform.observability import logs, tracing

if TYPE_CHECKING:
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
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure(service=log_service, fmt=LogFormat.JSON, level="DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()
