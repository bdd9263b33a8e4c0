"""Opaque keyset cursors: ``(created_at, id)`` of the last row of a page.

Clients treat a cursor as an opaque string and pass it back as ``after``. Inside it is
base64url JSON, versioned so the shape can change without breaking cursors in flight; a cursor
that does not decode is an input error, never a 500.

Example:
    >>> import datetime as dt, uuid
    >>> at, uid = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), uuid.UUID(int=1)
    >>> decode(encode(at, uid)) == (at, uid)
    True
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid

import orjson

from nova.platform import errors

__all__ = ["decode", "encode"]

_VERSION = 1


def encode(created_at: dt.datetime, row_id: uuid.UUID) -> str:
    """The cursor that resumes after the row ``(created_at, row_id)``."""
    # Microseconds since the epoch: exact (PostgreSQL timestamptz resolution) and zone-free.
    micros = (created_at - _EPOCH) // dt.timedelta(microseconds=1)
    raw = orjson.dumps({"v": _VERSION, "t": micros, "id": row_id.hex})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    """The ``(created_at, id)`` a cursor made by :func:`encode` points after.

    Raises:
        errors.InvalidInputError: the cursor was not made by :func:`encode` (field ``after``).
    """
    invalid = errors.InvalidInputError(
        "The cursor is not valid; start again from the first page.", field="after"
    )
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise invalid from exc
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise invalid
    try:
        created_at = _EPOCH + dt.timedelta(microseconds=int(data["t"]))
        return created_at, uuid.UUID(hex=str(data["id"]))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise invalid from exc


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
