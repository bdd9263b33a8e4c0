"""Observability: SLOs as code, and (as it lands) logs, traces and metrics vocabulary."""

from nova.platform.observability import logs, slo

__all__ = ["logs", "slo"]
