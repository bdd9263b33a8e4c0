"""The gateway: Nova's HTTP entry point (GraphQL, health, readiness, metrics).

Example:
    >>> from nova import gateway
    >>> app = gateway.build(settings)  # doctest: +SKIP
"""

from nova.gateway.app import build, default_schema

__all__ = ["build", "default_schema"]
