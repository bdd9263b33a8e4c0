"""Who is calling, for which tenant, in which trace: the metadata every Nova RPC carries.

Outbound calls send ``x-correlation-id``, ``x-nova-tenant``, ``x-nova-user`` (when a user
acts), ``x-nova-caller`` (the calling service) and a W3C ``traceparent`` whose trace id is
the incoming one (or, at the edge, derived from the correlation id) with a fresh span id.
A server rebuilds the :class:`~nova.platform.context.Actor` from them and keeps the incoming
``traceparent`` in a context variable, so calls it makes in turn stay in the same trace.

Read-your-writes travels the same way: ``x-nova-rw-key`` is the caller whose write positions
steer reads (:func:`nova.platform.db.consistency.caller`) and ``x-nova-read-after`` the WAL
position the request's reads must have (:func:`nova.platform.db.consistency.read_after`);
:func:`incoming` restores both, so a read served by another process routes as it would here.

Example:
    >>> actor = Actor.anonymous(tenant_id="t1", correlation_id="ab" * 16)
    >>> dict(outbound(actor, caller="gateway"))["traceparent"][:35]
    '00-abababababababababababababababab'
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import secrets
import uuid
from typing import TYPE_CHECKING

from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.db import consistency
from nova.platform.observability import tracing

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["CallerInfo", "current_traceparent", "inbound", "incoming", "outbound", "trace_id"]

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_HEX32 = re.compile(r"[0-9a-f]{32}")

_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nova_traceparent", default=None
)


_RW_KEY = "x-nova-rw-key"
_READ_AFTER = "x-nova-read-after"


class CallerInfo:
    """What a server learned about its caller besides the actor.

    Attributes:
        caller: The calling service.
        traceparent: The caller's W3C trace context.
        consistency_key: Whose write positions steer this call's reads (None: nobody's).
        read_after: WAL position this call's reads must have (0: none).
    """

    __slots__ = ("caller", "consistency_key", "read_after", "traceparent")

    def __init__(
        self,
        *,
        caller: str,
        traceparent: str | None,
        consistency_key: str | None = None,
        read_after: int = 0,
    ) -> None:
        self.caller = caller
        self.traceparent = traceparent
        self.consistency_key = consistency_key
        self.read_after = read_after


def current_traceparent() -> str | None:
    """The ``traceparent`` of the call being served, if any."""
    return _traceparent.get()


def trace_id(traceparent: str | None) -> str | None:
    """The trace id inside a valid ``traceparent``."""
    match = _TRACEPARENT.fullmatch(traceparent or "")
    return match.group(1) if match else None


@contextlib.contextmanager
def incoming(info: CallerInfo) -> Iterator[None]:
    """Serve the block as part of the caller's trace, with its read-your-writes context."""
    token = _traceparent.set(info.traceparent)
    try:
        with consistency.caller(info.consistency_key), consistency.read_after(info.read_after):
            yield
    finally:
        _traceparent.reset(token)


def _child_traceparent(actor: Actor) -> str:
    # With tracing configured the current span is the call's CLIENT span: send it as is.
    current = tracing.current_traceparent()
    if current is not None:
        return current
    parent = _TRACEPARENT.fullmatch(_traceparent.get() or "")
    if parent is not None:
        trace, flags = parent.group(1), parent.group(3)
    else:
        # At the edge the correlation id (uuid4 hex) doubles as the trace id, so logs and
        # traces of one request share one identifier.
        cid = actor.correlation_id.lower()
        trace = cid if _HEX32.fullmatch(cid) and cid != "0" * 32 else uuid.uuid4().hex
        flags = "01"
    return f"00-{trace}-{secrets.token_hex(8)}-{flags}"


def outbound(actor: Actor, *, caller: str) -> tuple[tuple[str, str], ...]:
    """Metadata for one outgoing call made on behalf of ``actor`` by service ``caller``."""
    items = [
        ("x-correlation-id", actor.correlation_id),
        ("x-nova-tenant", actor.tenant_id),
        ("x-nova-caller", caller),
        ("traceparent", _child_traceparent(actor)),
    ]
    if actor.user_id is not None:
        items.append(("x-nova-user", str(actor.user_id)))
    key = consistency.current_caller()
    if key is not None:
        items.append((_RW_KEY, key))
    position = consistency.current_read_after()
    if position:
        items.append((_READ_AFTER, str(position)))
    return tuple(items)


def inbound(metadata: Iterable[tuple[str, str | bytes]] | None) -> tuple[Actor, CallerInfo]:
    """The actor and caller of an incoming call.

    Raises:
        errors.InvalidInputError: the tenant is missing, the user id is not a UUID or the
            read-after position is not a number.
    """
    values = {key: value for key, value in metadata or () if isinstance(value, str)}
    tenant = values.get("x-nova-tenant", "")
    if not tenant:
        raise errors.InvalidInputError("The x-nova-tenant metadata is required.", field="tenant")
    raw_user = values.get("x-nova-user")
    try:
        user_id = uuid.UUID(raw_user) if raw_user else None
    except ValueError as exc:
        raise errors.InvalidInputError("x-nova-user must be a UUID.", field="x-nova-user") from exc
    actor = Actor(
        tenant_id=tenant,
        user_id=user_id,
        correlation_id=values.get("x-correlation-id") or uuid.uuid4().hex,
    )
    return actor, CallerInfo(
        caller=values.get("x-nova-caller", "unknown"),
        traceparent=values.get("traceparent"),
        consistency_key=values.get(_RW_KEY) or None,
        read_after=consistency.parse_position(values.get(_READ_AFTER), field=_READ_AFTER),
    )
