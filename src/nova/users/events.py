"""The events the users service emits, built from the facts of each change.

Every event is about a ``user`` aggregate (the actor of the change) and names the other party
in its payload. Payloads hold ids and flags only: no email, no password material, so the outbox
and event log carry no secrets.

=========================  ====================================================
event                      emitted when
=========================  ====================================================
UserRegistered             an account is created
ProfileUpdated             display name, bio, avatar or privacy changes
Followed                   a follow is created (directly or by approval)
FollowRequested            a private account is asked for a follow
FollowRequestApproved      the target approves a request (``Followed`` too)
FollowRequestRejected      the target rejects a request
Unfollowed                 a follow or a pending request is withdrawn
Blocked / Unblocked        a block is created / removed
Muted / Unmuted            a mute is created / removed
PreferencesUpdated         preferences change
=========================  ====================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nova.platform.events import Event

if TYPE_CHECKING:
    import uuid

    from nova.platform.context import Actor

__all__ = ["user_event"]


def user_event(
    actor: Actor, event_type: str, *, user_id: uuid.UUID, payload: dict[str, Any]
) -> Event:
    """An event about user ``user_id``, caused by ``actor``'s request.

    Args:
        actor: Supplies tenant and correlation id.
        event_type: Past-tense name from the table above.
        user_id: The aggregate: the user whose action this was.
        payload: JSON-serializable facts; ``user_id`` is added as a string.
    """
    return Event(
        event_type=event_type,
        aggregate_type="user",
        aggregate_id=str(user_id),
        tenant_id=actor.tenant_id,
        payload={"user_id": str(user_id), **payload},
        correlation_id=actor.correlation_id,
    )
