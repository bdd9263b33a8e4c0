"""The GraphQL endpoint: transport, auth, limits, caching around one schema.

``build_graphql_app(settings, services, redis=redis)`` returns an ASGI app to mount at
``/graphql``. Per request, in order:

1. read the operations (size cap, content type, batch cap: :mod:`nova.gateway._transport`);
2. authenticate ``Authorization: Bearer`` through the users client (401 on a bad token);
3. rate-limit per client address and per user (GCRA in Redis, 429 + ``Retry-After``);
4. per operation: resolve automatic persisted queries, answer from the response cache when
   the document is known to be public, else execute;
5. answer with ``application/graphql-response+json``: 400 for parse/validation/variable
   errors, 503 + ``Retry-After`` when a dependency is saturated, and a ``Cache-Control``
   computed from the fields' hints (``no-store`` for mutations and errors).

Read-your-writes: the request's reads are attributed to the user (an anonymous mutation: to
the request) and are at least as fresh as an ``X-Nova-Read-After`` position the client sends back;
after a mutation the response carries the caller's write position in that header, so a
client can hand it to another device, session or service (:mod:`nova.platform.db.consistency`).

Steps 2-4 run under one :func:`~nova.platform.resilience.deadline` of ``request_timeout``
seconds, so each downstream call's timeout is what the request has left (capped by
``rpc_timeout``) and a slow dependency fails its field instead of stretching the request.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from nova.gateway import _transport as transport
from nova.gateway.apq import PersistedQueries, PersistedQueryNotFoundError
from nova.gateway.cache_control import NO_STORE, CachePolicy, CacheScope
from nova.gateway.context import GatewayContext, Services
from nova.gateway.errors import format_error, graphql_error, nova_error_of
from nova.gateway.limits import GatewayPolicy
from nova.gateway.ratelimit import RateLimit, RateLimiter
from nova.gateway.response_cache import ResponseCache, cache_key
from nova.gateway.schema import GatewaySchema, build_schema
from nova.platform import cache, errors, resilience
from nova.platform.context import Actor
from nova.platform.db import consistency
from nova.platform.observability import operations as telemetry

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from graphql import GraphQLError
    from starlette.types import Receive, Scope, Send

    from nova.platform.config import Settings

__all__ = ["GraphQLEndpoint", "build_graphql_app"]

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_MUTATION = re.compile(r"(?:^|[}\s])mutation\b")
#: Sent after a write and accepted back: the WAL position the caller's reads must have.
READ_AFTER_HEADER = "X-Nova-Read-After"


class _Outcome:
    """One executed operation: its body (or cached bytes), status and cache policy."""

    __slots__ = ("body", "policy", "raw", "retry_after", "status")

    def __init__(
        self,
        body: dict[str, Any] | None,
        *,
        status: int = 200,
        policy: CachePolicy = NO_STORE,
        raw: bytes | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.policy = policy
        self.raw = raw
        self.retry_after = retry_after


class GraphQLEndpoint:
    """The ASGI app serving GraphQL (see the module docstring).

    Args:
        settings: Process settings (environment, tenant, Redis key prefix).
        services: The service clients.
        schema: The schema, with its hints.
        redis: A fail-fast Redis client owned by the caller, or None (no rate limits,
            response cache or shared APQ store).
        policy: Limits of the endpoint.
        positions: Read-your-writes positions, for ``X-Nova-Read-After`` after a mutation.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        services: Services,
        schema: GatewaySchema,
        redis: aioredis.Redis | None,
        policy: GatewayPolicy,
        positions: consistency.CallerPositions | None = None,
    ) -> None:
        self.settings = settings
        self.positions = positions
        self.services = services
        self.schema = schema
        self.policy = policy
        prefix = settings.redis_key_prefix
        optimized = settings.optimizations
        self.apq = PersistedQueries(redis, prefix=prefix)
        self.responses = ResponseCache(
            redis if optimized and settings.response_cache else None, prefix=prefix
        )
        self._batching = optimized and settings.graphql_dataloaders
        self.limiter = RateLimiter(redis, prefix=prefix)
        self._ide = None if settings.is_production else get_graphql_ide_html("graphiql")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request."""
        if scope["type"] != "http":
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Answer ``request``; never raises."""
        supplied = request.headers.get("x-request-id", "")
        cid = supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        media = transport.media_type(request)
        if (
            self._ide is not None
            and request.method == "GET"
            and not request.query_params
            and "text/html" in request.headers.get("accept", "")
        ):
            return HTMLResponse(self._ide)
        try:
            return await self._serve(request, cid, media)
        except transport.TransportError as exc:
            return transport.error_response(exc, correlation_id=cid, media=media)
        except errors.NovaError as exc:
            return transport.error_response(_transport_error(exc), correlation_id=cid, media=media)
        except Exception:
            logger.exception("unexpected error serving GraphQL", extra={"correlation_id": cid})
            failure = transport.TransportError(
                500, "INTERNAL", "Internal server error; quote the correlation id."
            )
            return transport.error_response(failure, correlation_id=cid, media=media)

    async def _serve(self, request: Request, cid: str, media: str) -> Response:
        operations, batch = await transport.read_operations(
            request, max_bytes=self.policy.max_body_bytes, max_batch=self.policy.max_batch
        )
        read_after = consistency.parse_position(
            request.headers.get(READ_AFTER_HEADER), field=READ_AFTER_HEADER
        )
        # One deadline for the whole request: every gRPC call it makes (authentication
        # included) gets at most what is left of it, never more than ``rpc_timeout``.
        with resilience.deadline(self.settings.request_timeout):
            actor = await self._authenticate(request, cid)
            telemetry.bind_actor(actor)
            await self._rate_limit(request, actor, operations)
            # Read-your-writes per user, and one Redis time budget for the whole request. An
            # anonymous caller has no lasting identity: only its writes (sign-up) get a key,
            # for this request; the client carries the position on in X-Nova-Read-After.
            rw_key = _consistency_key(actor, operations)
            with (
                consistency.caller(rw_key),
                consistency.read_after(read_after),
                cache.redis_budget(self.settings.redis_timeout),
            ):
                outcomes = [
                    await telemetry.observe(
                        self._run(op, actor, request.method),
                        query=op.query,
                        operation_name=op.operation_name,
                    )
                    for op in operations
                ]
                written = await self._written_position(operations, rw_key)
        headers = {"X-Request-Id": cid}
        if written is not None:
            headers[READ_AFTER_HEADER] = str(written)
        if batch:
            # Per-operation statuses cannot be expressed in one response; a batch is 200 and
            # never cached, and each entry carries its own errors.
            bodies = [o.body if o.raw is None else orjson.loads(o.raw) for o in outcomes]
            headers["Cache-Control"] = "no-store"
            return transport.json_response(bodies, status=200, media=media, headers=headers)
        outcome = outcomes[0]
        headers["Cache-Control"] = outcome.policy.header()
        if outcome.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(outcome.retry_after)))
        return transport.json_response(
            outcome.body, status=outcome.status, media=media, headers=headers, raw=outcome.raw
        )

    async def _run(self, op: transport.Operation, actor: Actor, method: str) -> _Outcome:
        cid = actor.correlation_id
        try:
            query = await self.apq.resolve(op.query, op.extensions)
        except PersistedQueryNotFoundError:
            error = graphql_error(
                "PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND", correlation_id=cid
            )
            return _Outcome({"errors": [error]})
        except errors.InvalidInputError as exc:
            return _Outcome(_errors_body(exc.message, "BAD_REQUEST", cid), status=400)
        if not query:
            return _Outcome(_errors_body("Send a query.", "BAD_REQUEST", cid), status=400)
        scope = "anon" if actor.user_id is None else str(actor.user_id)
        key = cache_key(
            query=query, operation_name=op.operation_name, variables=op.variables, scope=scope
        )
        known = self.schema.policies.get(query)
        # A client asking to read after its write must not get a cached past.
        fresh = consistency.current_read_after() == 0
        cacheable = fresh and actor.user_id is None and known is not None and _shared(known)
        if cacheable:
            hit = await self.responses.get(key)
            if hit is not None:
                body, ttl = hit
                return _Outcome(None, raw=body, policy=CachePolicy(ttl, CacheScope.PUBLIC))
        return await self._execute(op, query, actor, method, key)

    async def _execute(
        self, op: transport.Operation, query: str, actor: Actor, method: str, key: str
    ) -> _Outcome:
        cid = actor.correlation_id
        context = GatewayContext.build(actor, self.services, batching=self._batching)
        allowed = {OperationType.QUERY} if method == "GET" else None
        try:
            result = await self.schema.schema.execute(
                query,
                variable_values=op.variables,
                context_value=context,
                operation_name=op.operation_name,
                allowed_operation_types=allowed,
            )
        except InvalidOperationTypeError:
            refusal = _errors_body("Mutations must be sent with POST.", "METHOD_NOT_ALLOWED", cid)
            return _Outcome(refusal, status=405)
        except CannotGetOperationTypeError:
            message = f"Unknown operation named {op.operation_name!r}."
            return _Outcome(_errors_body(message, "BAD_REQUEST", cid), status=400)
        except MissingQueryError:
            return _Outcome(_errors_body("Send a query.", "BAD_REQUEST", cid), status=400)
        body: dict[str, Any] = {}
        if not isinstance(result, PreExecutionError):
            body["data"] = result.data
        if not result.errors:
            policy = context.cache_policy if context.operation_type == "query" else NO_STORE
            if actor.user_id is not None and policy.cacheable:
                # Blocks and visibility make every signed-in read viewer-specific.
                policy = policy.restrict(max_age=None, scope=CacheScope.PRIVATE)
            outcome = _Outcome(body, policy=policy)
            if _shared(policy) and actor.user_id is None:
                outcome.raw = orjson.dumps(body)
                await self.responses.put(key, outcome.raw, ttl=policy.max_age)
            return outcome
        body["errors"] = [format_error(e, correlation_id=cid) for e in result.errors]
        return _Outcome(
            body, **_error_status(result.errors, pre=isinstance(result, PreExecutionError))
        )

    async def _authenticate(self, request: Request, cid: str) -> Actor:
        header = request.headers.get("authorization")
        tenant = self.settings.default_tenant
        anonymous = Actor.anonymous(tenant_id=tenant, correlation_id=cid)
        if header is None:
            return anonymous
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise transport.TransportError(
                401, "UNAUTHENTICATED", "Send the access token as 'Authorization: Bearer <token>'."
            )
        try:
            claims = await self.services.users.authenticate(anonymous, access_token=token.strip())
        except errors.UnauthenticatedError as exc:
            raise transport.TransportError(401, "UNAUTHENTICATED", exc.message) from exc
        actor = Actor.user(claims.user_id, tenant_id=claims.tenant_id, correlation_id=cid)
        try:
            # Fan-out reaches only recently active followers; the users service writes this at
            # most once a minute per user, so it is nearly free on the request path.
            await self.services.users.touch_last_active(actor)
        except errors.NovaError as exc:
            logger.warning(
                "could not record activity; continuing", extra={"error.type": str(exc.code)}
            )
        return actor

    async def _written_position(
        self, operations: list[transport.Operation], rw_key: str | None
    ) -> int | None:
        """The caller's write position after a mutation, for the response; else None."""
        if self.positions is None or rw_key is None or not _writes(operations):
            return None
        return await self.positions.latest(rw_key)

    async def _rate_limit(
        self, request: Request, actor: Actor, operations: list[transport.Operation]
    ) -> None:
        writes = _writes(operations)
        cost = len(operations)
        client = request.client.host if request.client is not None else "unknown"
        await self.limiter.check(f"ip:{client}", self.policy.ip_limit, cost=cost, write=writes)
        if actor.user_id is not None:
            await self.limiter.check(
                f"user:{actor.user_id}", self.policy.user_limit, cost=cost, write=writes
            )


def _writes(operations: list[transport.Operation]) -> bool:
    return any(op.query is not None and _MUTATION.search(op.query) for op in operations)


def _consistency_key(actor: Actor, operations: list[transport.Operation]) -> str | None:
    """Whose write positions steer this request's reads (see the module docstring)."""
    if actor.user_id is not None:
        return str(actor.user_id)
    return f"request:{actor.correlation_id}" if _writes(operations) else None


def _shared(policy: CachePolicy) -> bool:
    return policy.cacheable and policy.scope is CacheScope.PUBLIC


def _errors_body(message: str, code: str, cid: str) -> dict[str, Any]:
    return {"errors": [graphql_error(message, code=code, correlation_id=cid)]}


def _error_status(graphql_errors: list[GraphQLError], *, pre: bool) -> dict[str, Any]:
    """Status (and Retry-After) of a result with errors, per GraphQL over HTTP."""
    if pre or all(e.path is None for e in graphql_errors):
        # Parse, validation or variable-coercion failure: the request was not executable.
        return {"status": 400}
    for error in graphql_errors:
        nova = nova_error_of(error)
        if isinstance(nova, errors.UnavailableError):
            return {"status": 503, "retry_after": nova.retry_after}
        if isinstance(nova, errors.RateLimitedError):
            return {"status": 429, "retry_after": nova.retry_after}
    return {"status": 200}


def build_graphql_app(
    settings: Settings,
    services: Services,
    *,
    redis: aioredis.Redis | None = None,
    policy: GatewayPolicy | None = None,
    positions: consistency.CallerPositions | None = None,
) -> GraphQLEndpoint:
    """The GraphQL ASGI app to mount at ``/graphql``.

    Args:
        settings: Process settings; ``is_production`` turns introspection, suggestions and
            GraphiQL off.
        services: The service clients (in-process or gRPC).
        redis: A fail-fast Redis client owned (and closed) by the caller; None disables rate
            limits, the response cache and the shared persisted-query store.
        policy: Endpoint limits (defaults when omitted).
        positions: The deployment's read-your-writes positions; after a mutation the
            response carries the caller's in ``X-Nova-Read-After``. None omits the header.

    Example:
        >>> services = Services(users=users, content=content, feed=feed)   # doctest: +SKIP
        >>> graphql = build_graphql_app(settings, services, redis=redis)   # doctest: +SKIP
        >>> Route("/graphql", graphql)  # a Route, not a Mount: no redirect  # doctest: +SKIP
    """
    per_minute = settings.ip_rate_limit_per_minute
    limits = policy or GatewayPolicy(ip_limit=RateLimit(per_minute, burst=max(1, per_minute // 5)))
    schema = build_schema(
        production=settings.is_production,
        policy=limits,
        document_cache=settings.optimizations and settings.graphql_document_cache,
    )
    return GraphQLEndpoint(
        settings=settings,
        services=services,
        schema=schema,
        redis=redis,
        policy=limits,
        positions=positions,
    )


def _transport_error(exc: errors.NovaError) -> transport.TransportError:
    retry_after = getattr(exc, "retry_after", None)
    status = exc.http_status if exc.http_status in {400, 401, 413, 429, 503} else 400
    code = str(exc.code)
    if isinstance(exc, errors.UnavailableError):
        status, code = 503, str(exc.code)
    return transport.TransportError(status, code, exc.message, retry_after=retry_after)
