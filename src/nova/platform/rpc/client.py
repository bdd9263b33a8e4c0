"""gRPC client side: deadlines, retries within a budget, a breaker per target, metadata.

:class:`RpcTarget` is one downstream service. Every call:

- gets a timeout from :func:`~nova.platform.resilience.timeout`: the policy's cap, shortened
  to what the incoming request's deadline leaves (a spent budget fails before calling);
- carries the actor's identity and the trace in metadata (:mod:`.metadata`);
- goes through the target's :class:`~nova.platform.resilience.CircuitBreaker`; only transport
  failures (unavailable, deadline, internal) count against it, never a domain error;
- is retried only when ``idempotent`` and the status is ``UNAVAILABLE`` (or ``CANCELLED`` by a
  stopping server), at most
  ``retry_attempts`` times, while the deadline allows and the :class:`RetryBudget` has tokens
  (so a struggling service sees at most ``1 + ratio`` times its normal load);
- re-raises the server's :class:`~nova.platform.errors.NovaError` (same class and code);
- is one CLIENT span per attempt (its ``traceparent`` goes in the metadata, so the server's
  span is its child) and one observation of ``nova_rpc_client_requests_total`` and
  ``nova_rpc_client_request_duration_seconds`` per call, retries included, by the final code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import TYPE_CHECKING, TypeVar

import grpc
from google.protobuf.message import Message
from opentelemetry.trace import SpanKind

from nova.platform import errors
from nova.platform.observability import metrics, tracing
from nova.platform.resilience import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    DeadlineExceededError,
    timeout,
)
from nova.platform.rpc import metadata, status
from nova.platform.rpc.channel import RotatingChannel, parse_addresses

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from opentelemetry.trace import Span

    from nova.platform.config import Settings
    from nova.platform.context import Actor

__all__ = ["ClientPolicy", "RetryBudget", "RpcTarget"]

R = TypeVar("R", bound=Message)

# Transport outcomes that say the target is unhealthy; everything else is the caller's fault
# or a domain answer.
_UNHEALTHY = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


# A replica shutting down refuses new calls (UNAVAILABLE) or cancels the ones it could not
# finish within its grace period (CANCELLED: our own cancellations raise CancelledError, not
# an AioRpcError). Either way another replica may answer an idempotent call.
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


@dataclasses.dataclass(frozen=True, slots=True)
class ClientPolicy:
    """How a client calls a service (see the ``rpc_*`` settings).

    Attributes:
        caller: This process's service name, sent as ``x-nova-caller``.
        timeout: Seconds per call when the request has no deadline.
        keepalive_time: Seconds between pings (the server permits half of it).
        keepalive_timeout: Seconds to wait for a ping ack.
        max_message_bytes: Largest message sent or received.
        retry_attempts: Attempts per idempotent call on UNAVAILABLE.
        retry_budget_ratio: Retries earned per call made.
        retry_backoff: Base seconds between attempts (jittered, doubled per attempt).
        rotate_after: Client-side channel rotation, seconds (None: server GOAWAY only).
        breaker: Breaker thresholds of each target.
    """

    caller: str = "gateway"
    timeout: float = 1.0
    keepalive_time: float = 30.0
    keepalive_timeout: float = 5.0
    max_message_bytes: int = 4 * 1024 * 1024
    retry_attempts: int = 3
    retry_budget_ratio: float = 0.1
    retry_backoff: float = 0.02
    rotate_after: float | None = None
    breaker: BreakerPolicy = dataclasses.field(
        default_factory=lambda: BreakerPolicy(window=50, minimum_calls=20, open_seconds=2.0)
    )

    @classmethod
    def from_settings(cls, settings: Settings, *, caller: str) -> ClientPolicy:
        """The policy ``settings`` describe, for service ``caller``."""
        return cls(
            caller=caller,
            timeout=settings.rpc_timeout,
            keepalive_time=settings.rpc_keepalive_time,
            keepalive_timeout=settings.rpc_keepalive_timeout,
            max_message_bytes=settings.rpc_max_message_bytes,
            retry_attempts=settings.rpc_retry_attempts,
            retry_budget_ratio=settings.rpc_retry_budget_ratio,
        )

    def channel_options(self) -> list[tuple[str, int | str]]:
        """Channel arguments for gRPC core, matched to :class:`.server.ServerPolicy`."""
        return [
            ("grpc.keepalive_time_ms", int(self.keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive_timeout * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            # Our own retry loop decides; core keeps only transparent retries (calls that never
            # left the client), which are always safe.
            ("grpc.enable_retries", 1),
            # Reconnect to a restarted replica within a fraction of a second, not core's
            # default 1-120 s backoff, so a rolling restart never leaves one replica serving.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ]


class RetryBudget:
    """A token bucket of retries: each call earns ``ratio`` tokens, each retry spends one.

    Args:
        ratio: Tokens per call (0.1 allows one retry per ten calls in steady state).
        reserve: Tokens available from the start and the most that accumulate, so a quiet
            client can still retry a few times.
    """

    def __init__(self, ratio: float, *, reserve: float = 10.0) -> None:
        self._ratio = ratio
        self._cap = reserve
        self._tokens = reserve
        self.spent = 0
        self.refused = 0

    def earn(self) -> None:
        """Credit one call."""
        self._tokens = min(self._cap, self._tokens + self._ratio)

    def spend(self) -> bool:
        """Take one retry token; False when the budget is exhausted."""
        if self._tokens < 1.0 - 1e-9:  # float sums of ratio (0.1 x 10) land just below 1
            self.refused += 1
            return False
        self._tokens -= 1.0
        self.spent += 1
        return True


class RpcTarget:
    """One downstream service: channel, breaker, retry budget and the call path.

    Args:
        service: Full gRPC service name (``nova.content.v1.ContentService``).
        name: Short label for errors, logs and metrics (``content``).
        addresses: Replicas, as ``host:port`` strings or one comma-separated string.
        policy: Timeouts, retries, keepalive and breaker thresholds.
    """

    def __init__(
        self,
        service: str,
        *,
        name: str,
        addresses: str | Sequence[str],
        policy: ClientPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.name = name
        self.policy = policy
        self.channel = RotatingChannel(
            parse_addresses(addresses),
            options=policy.channel_options(),
            rotate_after=policy.rotate_after,
        )
        self.breaker = CircuitBreaker(f"rpc-{name}", policy.breaker, clock=clock)
        self.budget = RetryBudget(policy.retry_budget_ratio)
        self.calls = 0
        self.retries = 0

    async def call(
        self,
        method: str,
        request: Message,
        response: type[R],
        actor: Actor,
        *,
        idempotent: bool,
    ) -> R:
        """Call ``method`` with ``request`` on behalf of ``actor``.

        Raises:
            errors.NovaError: the server's error, rebuilt; or an ``UnavailableError`` (a
                ``DeadlineExceededError`` for a spent budget, ``CircuitOpenError`` while the
                breaker is open) for transport failures.
        """
        started = time.perf_counter()
        code = "CANCELLED"  # unless it returns or raises an error (the caller went away)
        try:
            result = await self._attempts(method, request, response, actor, idempotent=idempotent)
            code = "OK"
        except Exception as exc:
            code = _code_of(exc)
            raise
        finally:
            metrics.RPC_CLIENT_REQUESTS.labels(self.service, method, code).inc()
            metrics.RPC_CLIENT_DURATION.labels(self.service, method).observe(
                time.perf_counter() - started
            )
        return result

    async def _attempts(
        self, method: str, request: Message, response: type[R], actor: Actor, *, idempotent: bool
    ) -> R:
        path = f"/{self.service}/{method}"
        self.calls += 1
        self.budget.earn()
        attempt = 0
        while True:
            attempt += 1
            seconds = timeout(self.policy.timeout)
            if not self.breaker.allow():
                raise CircuitOpenError(
                    f"{self.name} is unavailable (circuit open); retry shortly.",
                    retry_after=self.breaker.policy.open_seconds,
                    dependency=self.name,
                )
            started = time.monotonic()
            stub = self.channel.get().unary_unary(
                path,
                request_serializer=_serialize,
                response_deserializer=response.FromString,
            )
            span = tracing.tracer().start_as_current_span(
                f"{self.service}/{method}",
                kind=SpanKind.CLIENT,
                attributes={
                    "rpc.system": "grpc",
                    "rpc.service": self.service,
                    "rpc.method": method,
                    "nova.attempt": attempt,
                },
            )
            try:
                # The event loop's own timer backs up gRPC core's deadline: core's expiry
                # reaches asyncio through its poller thread, tens of ms late on a busy machine.
                with span as current:
                    async with asyncio.timeout(seconds):
                        result: R = await _traced(
                            current,
                            stub(
                                request,
                                timeout=seconds,
                                metadata=metadata.outbound(actor, caller=self.policy.caller),
                                # A first attempt fails fast when no replica is connected; a
                                # retry waits (within its timeout) for one, e.g. a replica
                                # just restarted.
                                wait_for_ready=attempt > 1,
                            ),
                        )
            except TimeoutError:
                self.breaker.record_failure()
                raise DeadlineExceededError(
                    f"{self.name} did not answer within the deadline.",
                    retry_after=0.5,
                    dependency=self.name,
                ) from None
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code in _UNHEALTHY and not _has_error_trailer(exc):
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success(time.monotonic() - started)
                if self._may_retry(code, attempt, idempotent=idempotent):
                    self.retries += 1
                    await asyncio.sleep(_backoff(self.policy.retry_backoff, attempt))
                    continue
                raise status.error_from_status(
                    code, exc.details(), list(exc.trailing_metadata() or ()), target=self.name
                ) from None
            except BaseException:
                self.breaker.abandon()  # cancelled: no verdict on the target
                raise
            self.breaker.record_success(time.monotonic() - started)
            return result

    def _may_retry(self, code: grpc.StatusCode, attempt: int, *, idempotent: bool) -> bool:
        if not (idempotent and code in _RETRYABLE and attempt < self.policy.retry_attempts):
            return False
        allowed = self.budget.spend()
        metrics.RPC_CLIENT_RETRIES.labels(self.service, "retried" if allowed else "refused").inc()
        return allowed

    async def close(self, grace: float | None = None) -> None:
        """Close the channel, letting in-flight calls finish within ``grace`` seconds."""
        await self.channel.close(grace)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


async def _traced(span: Span, call: Awaitable[R]) -> R:
    """Await one attempt, putting its gRPC status code on its span."""
    try:
        result = await call
    except grpc.aio.AioRpcError as exc:
        span.set_attribute("rpc.grpc.status_code", exc.code().value[0])
        raise
    span.set_attribute("rpc.grpc.status_code", grpc.StatusCode.OK.value[0])
    return result


def _code_of(exc: Exception) -> str:
    """The gRPC status name a failed call ended with, as its caller saw it."""
    if isinstance(exc, DeadlineExceededError):
        return grpc.StatusCode.DEADLINE_EXCEEDED.name
    if isinstance(exc, errors.NovaError):
        return status.grpc_code(exc).name
    if isinstance(exc, status.RemoteError):
        return exc.status
    return grpc.StatusCode.UNKNOWN.name


def _has_error_trailer(exc: grpc.aio.AioRpcError) -> bool:
    return any(key == status.ERROR_KEY for key, _ in exc.trailing_metadata() or ())


def _backoff(base: float, attempt: int) -> float:
    # Full jitter: concurrent retries after one replica dies do not arrive in lockstep.
    return random.uniform(0, base * 2 ** (attempt - 1))  # noqa: S311  # jitter, not crypto
