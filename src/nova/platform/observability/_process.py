"""Start-up of a process's logs and traces from its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nova.platform.observability import logs, tracing

if TYPE_CHECKING:
    from nova.platform.config import Settings

__all__ = ["configure"]


def configure(settings: Settings, *, service: str = "nova") -> None:
    """Configure logs (``log_format``, ``log_level``) and tracing (``otlp_endpoint``).

    Call once at start-up, before serving: ``nova up`` does.

    Args:
        settings: The process settings.
        service: ``service.name`` on every log line and span.
    """
    logs.configure(service=service, fmt=settings.log_format, level=settings.log_level)
    tracing.configure(
        service=service,
        otlp_endpoint=settings.otlp_endpoint,
        sample_ratio=settings.trace_sample_ratio,
    )
