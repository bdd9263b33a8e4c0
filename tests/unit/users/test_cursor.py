import datetime as dt
import uuid

import pytest

from nova.platform import errors
from nova.users import cursor


def test_cursor_round_trips_to_the_microsecond() -> None:
    at = dt.datetime(2026, 11, 28, 12, 30, 1, 123456, tzinfo=dt.UTC)
    row_id = uuid.uuid4()

    assert cursor.decode(cursor.encode(at, row_id)) == (at, row_id)


def test_cursor_is_url_safe() -> None:
    token = cursor.encode(dt.datetime.now(dt.UTC), uuid.uuid4())

    assert all(c.isalnum() or c in "-_" for c in token)


@pytest.mark.parametrize(
    "token", ["", "!!!", "e30", "eyJ2IjoxfQ", "eyJ2IjoxLCJ0IjoieCIsImlkIjoxfQ"]
)
def test_malformed_cursors_are_input_errors(token: str) -> None:
    with pytest.raises(errors.InvalidInputError) as caught:
        cursor.decode(token)

    assert caught.value.field == "after"
