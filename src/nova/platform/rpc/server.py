"""gRPC server side: one handler per method from a table, health, reflection, graceful stop.

Services describe themselves as a :class:`ServiceDef` (full name + :class:`Method` rows);
:func:`start_server` registers them as generic handlers, so no generated ``*_pb2_grpc`` code
is needed. Every method runs the same steps:

1. parse the request bytes itself, so a malformed message is ``INVALID_ARGUMENT`` (gRPC's own
   deserializer failure would be ``INTERNAL``) and never reaches a use case;
2. rebuild the :class:`~nova.platform.context.Actor` and trace from metadata;
3. open a :func:`~nova.platform.resilience.deadline` with the call's remaining time, so
   calls the use case makes downstream inherit the caller's budget;
4. call the use case; a :class:`~nova.platform.errors.NovaError` is aborted with its status
   and the ``nova-error-bin`` trailer, anything else is logged and answered ``INTERNAL``.
5. around it: a SERVER span, child of the caller's ``traceparent`` (so one trace crosses
   every process); ``correlation_id``, ``rpc.method``, ``tenant.id``, ``user.id`` bound for
   every line logged inside; one ``rpc served`` line; ``nova_rpc_server_requests_total`` and
   ``nova_rpc_server_request_duration_seconds`` by service, method and gRPC code.

Unknown methods are ``UNIMPLEMENTED`` and oversized messages ``RESOURCE_EXHAUSTED`` (gRPC
core). Connections live at most ``max_connection_age`` (+-10 % jitter added by gRPC core,
per A9), then get a GOAWAY and ``max_connection_age_grace`` to finish their calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from nova.platform import errors
from nova.platform.config import Environment
from nova.platform.context import Actor
from nova.platform.observability import logs, metrics, tracing
from nova.platform.resilience import deadline
from nova.platform.rpc import metadata, status

if TYPE_CHECKING:
    from nova.platform.config import Settings

__all__ = [
    "Method",
    "RpcServer",
    "ServerPolicy",
    "ServiceDef",
    "check_health",
    "current_peer",
    "serve_until_signal",
    "start_server",
]

logger = logging.getLogger(__name__)

Req = TypeVar("Req", bound=Message)

_peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("nova_rpc_peer", default=None)


def current_peer() -> str | None:
    """The transport address of the client whose call is being served (``ipv4:ip:port``)."""
    return _peer.get()


@dataclasses.dataclass(frozen=True, slots=True)
class Method(Generic[Req]):
    """One unary RPC: its name, request type and handler (actor, request) -> response."""

    name: str
    request: type[Req]
    handler: Callable[[Actor, Req], Awaitable[Message]]


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceDef:
    """A gRPC service: full name (``nova.users.v1.UsersService``) and its methods."""

    name: str
    methods: Sequence[Method[Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerPolicy:
    """Connection management and limits of a server (see the ``rpc_*`` settings)."""

    max_connection_age: float = 300.0
    max_connection_age_grace: float = 10.0
    keepalive_time: float = 30.0
    keepalive_timeout: float = 5.0
    max_message_bytes: int = 4 * 1024 * 1024
    shutdown_grace: float = 5.0
    reflection: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerPolicy:
        """The policy ``settings`` describe; reflection defaults to development only."""
        reflect = settings.rpc_reflection
        return cls(
            max_connection_age=settings.rpc_max_connection_age,
            max_connection_age_grace=settings.rpc_max_connection_age_grace,
            keepalive_time=settings.rpc_keepalive_time,
            keepalive_timeout=settings.rpc_keepalive_timeout,
            max_message_bytes=settings.rpc_max_message_bytes,
            shutdown_grace=settings.rpc_shutdown_grace,
            reflection=settings.environment is Environment.DEVELOPMENT
            if reflect is None
            else reflect,
        )

    def options(self) -> list[tuple[str, int]]:
        """Channel arguments of the server for gRPC core."""

        def ms(seconds: float) -> int:
            return int(seconds * 1000)

        return [
            ("grpc.max_connection_age_ms", ms(self.max_connection_age)),
            ("grpc.max_connection_age_grace_ms", ms(self.max_connection_age_grace)),
            # Server pings idle-looking connections less often than clients do...
            ("grpc.keepalive_time_ms", ms(self.keepalive_time * 2)),
            ("grpc.keepalive_timeout_ms", ms(self.keepalive_timeout)),
            # ...and tolerates client pings down to half the client interval, so a client
            # configured from the same settings is never sent GOAWAY "too_many_pings".
            ("grpc.http2.min_recv_ping_interval_without_data_ms", ms(self.keepalive_time / 2)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_ping_strikes", 2),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            # Without this, a second replica (or a restart racing the old process) would share
            # the port silently instead of failing to bind.
            ("grpc.so_reuseport", 0),
        ]


def _handler(service: str, method: Method[Any]) -> grpc.RpcMethodHandler[bytes, bytes]:
    rpc_name = f"{service.rsplit('.', 1)[-1]}.{method.name}"

    async def behavior(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        started = time.perf_counter()
        try:
            request = method.request.FromString(raw)
        except DecodeError:
            _count(service, method.name, grpc.StatusCode.INVALID_ARGUMENT, started)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed {rpc_name} request")
        try:
            actor, caller = metadata.inbound(context.invocation_metadata())
        except errors.NovaError as exc:
            _count(service, method.name, grpc_code(exc), started)
            await context.abort(grpc_code(exc), exc.message, status.error_trailer(exc))
        _peer.set(context.peer())
        left: float | None = context.time_remaining()
        # No deadline shows up as None or as gRPC's "infinite future"; neither bounds us.
        budget = deadline(left) if left is not None and left < 86_400 else contextlib.nullcontext()
        span = tracing.tracer().start_as_current_span(
            f"{service}/{method.name}",
            context=tracing.parent_context(caller.traceparent),
            kind=SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": method.name,
                "nova.caller": caller.caller,
                "correlation_id": actor.correlation_id,
            },
            # Status and errors are set from the gRPC code below: a NOT_FOUND is an answer.
            record_exception=False,
            set_status_on_exception=False,
        )
        with (
            budget,
            span as current,
            metadata.incoming(caller),
            logs.bound(
                correlation_id=actor.correlation_id,
                # Without a recording tracer the log processor finds no span; the caller's
                # trace id still ties this line to the request.
                trace_id=metadata.trace_id(caller.traceparent),
                **_actor_fields(actor, rpc_name),
            ),
        ):
            code = grpc.StatusCode.CANCELLED  # until answered (deadline passed, client gone)
            try:
                response = await method.handler(actor, request)
                code = grpc.StatusCode.OK
            except errors.NovaError as exc:
                code = grpc_code(exc)
                await context.abort(code, exc.message, status.error_trailer(exc))
            except Exception as exc:
                code = grpc.StatusCode.INTERNAL
                current.record_exception(exc)
                logger.exception("rpc handler failed")
                await context.abort(code, "internal error")
            finally:
                _served(current, service, method.name, code, started)
        return response.SerializeToString()

    return grpc.unary_unary_rpc_method_handler(behavior)


#: Server-side codes that mean the server failed (OpenTelemetry's rule for RPC server spans);
#: the rest are answers about the request.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


def _actor_fields(actor: Actor, rpc_name: str) -> dict[str, str]:
    fields = {"rpc.method": rpc_name, "tenant.id": actor.tenant_id}
    if actor.user_id is not None:
        fields["user.id"] = str(actor.user_id)
    return fields


def _count(service: str, method: str, code: grpc.StatusCode, started: float) -> None:
    metrics.RPC_SERVER_REQUESTS.labels(service, method, code.name).inc()
    metrics.RPC_SERVER_DURATION.labels(service, method).observe(time.perf_counter() - started)


def _served(
    span: trace.Span, service: str, method: str, code: grpc.StatusCode, started: float
) -> None:
    """Metrics, span status and the ``rpc served`` line of one answered call."""
    _count(service, method, code, started)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_FAULTS:
        span.set_status(trace.StatusCode.ERROR, code.name)
    # One line per call, like the gateway's "request served": with the bound correlation and
    # trace ids, one request can be followed through every service.
    extra: dict[str, object] = {"duration_ms": round((time.perf_counter() - started) * 1e3, 3)}
    if code is not grpc.StatusCode.OK:
        extra["error.type"] = code.name
    logger.info("rpc served", extra=extra)


grpc_code = status.grpc_code


@dataclasses.dataclass
class RpcServer:
    """A started server: its bound port, health servicer and graceful stop."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    services: tuple[str, ...]

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, stop accepting calls, let in-flight ones finish within ``grace``."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)

    async def wait(self) -> None:
        """Until the server has stopped."""
        await self.server.wait_for_termination()


async def start_server(
    services: Sequence[ServiceDef], *, address: str, policy: ServerPolicy
) -> RpcServer:
    """Start serving ``services`` (plus health, and reflection if enabled) on ``address``.

    Raises:
        errors.ConfigurationError: the address could not be bound.
    """
    server = grpc.aio.server(options=policy.options())
    for service in services:
        handlers = {m.name: _handler(service.name, m) for m in service.methods}
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service.name, handlers),)
        )
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    names = tuple(s.name for s in services)
    if policy.reflection:
        reflection.enable_server_reflection(
            (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise errors.ConfigurationError(setting="address", reason=f"cannot bind {address}") from exc
    await server.start()
    for name in ("", *names):
        await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RpcServer(server=server, health=checker, port=port, services=names)


async def serve_until_signal(server: RpcServer, *, grace: float) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully within ``grace`` seconds."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        await server.stop(grace)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def check_health(address: str, *, service: str = "", seconds: float = 1.0) -> bool:
    """Whether the server at ``address`` reports ``service`` SERVING (False when unreachable)."""
    async with grpc.aio.insecure_channel(address) as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = await check(health_pb2.HealthCheckRequest(service=service), timeout=seconds)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
