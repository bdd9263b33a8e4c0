"""Small conversions between protobuf fields and Python values, shared by every service.

Ids travel as UUID strings and timestamps as ``google.protobuf.Timestamp`` (UTC). A value
that does not parse is the caller's mistake: :class:`~nova.platform.errors.InvalidInputError`
naming the field, which the server answers with ``INVALID_ARGUMENT``.

Example:
    >>> uid(str(uuid.UUID(int=1)), field="id") == uuid.UUID(int=1)
    True
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from google.protobuf.timestamp_pb2 import Timestamp

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["from_timestamp", "opt_uid", "timestamp", "uid", "uids"]


def uid(value: str, *, field: str) -> uuid.UUID:
    """``value`` as a UUID.

    Raises:
        errors.InvalidInputError: not a UUID.
    """
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise errors.InvalidInputError(f"{field} must be a UUID.", field=field) from exc


def opt_uid(value: str | None, *, field: str) -> uuid.UUID | None:
    """A UUID, or None for an absent or empty value."""
    return uid(value, field=field) if value else None


def uids(values: Iterable[str], *, field: str) -> list[uuid.UUID]:
    """Every value as a UUID (order kept)."""
    return [uid(value, field=field) for value in values]


def timestamp(value: dt.datetime) -> Timestamp:
    """A protobuf timestamp of an aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def from_timestamp(value: Timestamp) -> dt.datetime:
    """The aware UTC datetime of a protobuf timestamp."""
    return value.ToDatetime(tzinfo=dt.UTC)
