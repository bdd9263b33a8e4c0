"""Relay-style global ids and opaque cursors.

A global id is ``base64("Type:uuid")`` so clients can refetch any node with ``node(id:)``
without knowing its type; a cursor wraps the service's own keyset cursor so the gateway can
change pagination internals without breaking apps.

Example:
    >>> gid = to_global_id("Post", uuid.UUID(int=1))
    >>> from_global_id(gid, expected="Post") == uuid.UUID(int=1)
    True
"""

from __future__ import annotations

import base64
import binascii
import uuid

from nova.platform import errors

__all__ = ["decode_cursor", "encode_cursor", "from_global_id", "parse_global_id", "to_global_id"]

_CURSOR_PREFIX = "c:"


def to_global_id(type_name: str, value: uuid.UUID) -> str:
    """The opaque global id of the ``type_name`` node with database id ``value``."""
    return base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode()


def parse_global_id(global_id: str, *, field: str = "id") -> tuple[str, uuid.UUID]:
    """Split a global id into ``(type name, uuid)``.

    Raises:
        errors.InvalidInputError: the id is not one this API issued.
    """
    try:
        raw = base64.urlsafe_b64decode(global_id.encode() + b"==").decode()
        type_name, _, value = raw.partition(":")
        parsed = uuid.UUID(value)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise errors.InvalidInputError(
            "This id is not valid; use an id returned by the API.", field=field
        ) from exc
    if not type_name:
        raise errors.InvalidInputError(
            "This id is not valid; use an id returned by the API.", field=field
        )
    return type_name, parsed


def from_global_id(global_id: str, *, expected: str, field: str = "id") -> uuid.UUID:
    """The uuid inside ``global_id``, which must name an ``expected`` node.

    Raises:
        errors.InvalidInputError: malformed, or the id of another type.
    """
    type_name, value = parse_global_id(global_id, field=field)
    if type_name != expected:
        raise errors.InvalidInputError(f"Expected the id of a {expected}.", field=field)
    return value


def encode_cursor(service_cursor: str) -> str:
    """Wrap a service cursor into the opaque cursor clients see."""
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + service_cursor).encode()).decode()


def decode_cursor(cursor: str | None, *, field: str = "after") -> str | None:
    """The service cursor inside ``cursor`` (None stays None).

    Raises:
        errors.InvalidInputError: not a cursor this API issued.
    """
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise errors.InvalidInputError("This cursor is not valid.", field=field) from exc
    if not raw.startswith(_CURSOR_PREFIX):
        raise errors.InvalidInputError("This cursor is not valid.", field=field)
    return raw.removeprefix(_CURSOR_PREFIX)
