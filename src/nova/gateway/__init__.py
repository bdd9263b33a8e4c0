"""The gateway: Nova's HTTP entry point (GraphQL, health, readiness, metrics).

Example:
    >>> from nova import gateway
    >>> graphql = gateway.build_graphql_app(settings, services, redis=redis)  # doctest: +SKIP
    >>> app = gateway.build(settings, graphql=graphql)  # doctest: +SKIP
"""

from nova.gateway.app import build, default_schema
from nova.gateway.context import Services
from nova.gateway.http import build_graphql_app
from nova.gateway.limits import GatewayPolicy
from nova.gateway.ports import UsersApi

__all__ = ["GatewayPolicy", "Services", "UsersApi", "build", "build_graphql_app", "default_schema"]
