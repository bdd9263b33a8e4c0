"""What code under test emits: log lines as JSON, captured for one block."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import TYPE_CHECKING

import structlog

from nova.platform.config import LogFormat
from nova.platform.observability import logs

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextlib.contextmanager
def json_log_lines(service: str, *, level: str = "DEBUG") -> Iterator[io.StringIO]:
    """Log JSON lines at ``level`` into a buffer for the block; the previous set-up is restored."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure(service=service, fmt=LogFormat.JSON, level=level, stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()
