"""gRPC plumbing shared by every service: servers, clients, channels, status mapping.

=================  ===========================================================================
module             does
=================  ===========================================================================
``server``         method tables -> generic handlers; health, reflection, graceful stop
``client``         :class:`RpcTarget`: deadline, breaker, retries within a budget, metadata
``channel``        one balanced channel over a service's replicas, rotated by age
``coalesce``       :class:`Hydrator`: hydration lookups of concurrent requests -> one RPC
``metadata``       actor, correlation id and W3C ``traceparent`` in and out of metadata
``status``         NovaError <-> gRPC status with the error kept in a trailer
=================  ===========================================================================
"""

from nova.platform.rpc.channel import RotatingChannel, parse_addresses
from nova.platform.rpc.client import ClientPolicy, RetryBudget, RpcTarget
from nova.platform.rpc.coalesce import Hydrator
from nova.platform.rpc.server import (
    Method,
    RpcServer,
    ServerPolicy,
    ServiceDef,
    check_health,
    serve_until_signal,
    start_server,
)
from nova.platform.rpc.status import RemoteError, error_from_status, grpc_code

__all__ = [
    "ClientPolicy",
    "Hydrator",
    "Method",
    "RemoteError",
    "RetryBudget",
    "RotatingChannel",
    "RpcServer",
    "RpcTarget",
    "ServerPolicy",
    "ServiceDef",
    "check_health",
    "error_from_status",
    "grpc_code",
    "parse_addresses",
    "serve_until_signal",
    "start_server",
]
