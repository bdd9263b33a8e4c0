"""Read-your-writes context travels in RPC metadata and comes back out on the server side."""

from __future__ import annotations

import pytest

from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.db import consistency
from nova.platform.rpc import metadata

ACTOR = Actor.anonymous(tenant_id="t1", correlation_id="ab" * 16)


def test_caller_key_and_read_after_round_trip() -> None:
    with consistency.caller("user-7"), consistency.read_after(123_456):
        sent = metadata.outbound(ACTOR, caller="gateway")
    _, info = metadata.inbound(sent)
    assert (info.consistency_key, info.read_after) == ("user-7", 123_456)
    assert consistency.current_caller() is None
    with metadata.incoming(info):
        assert consistency.current_caller() == "user-7"
        assert consistency.current_read_after() == 123_456
    assert consistency.current_read_after() == 0


def test_nothing_is_sent_without_a_caller_or_position() -> None:
    sent = dict(metadata.outbound(ACTOR, caller="gateway"))
    assert "x-nova-rw-key" not in sent
    assert "x-nova-read-after" not in sent
    _, info = metadata.inbound(sent.items())
    assert (info.consistency_key, info.read_after) == (None, 0)


def test_read_after_only_rises_when_nested() -> None:
    with consistency.read_after(50), consistency.read_after(10):
        assert consistency.current_read_after() == 50


@pytest.mark.parametrize("raw", ["-1", "abc", "1e9", "9" * 20, "٣"])
def test_a_malformed_position_is_a_typed_error(raw: str) -> None:
    sent = (("x-nova-tenant", "t1"), ("x-nova-read-after", raw))
    with pytest.raises(errors.InvalidInputError) as caught:
        metadata.inbound(sent)
    assert caught.value.code is errors.ErrorCode.INVALID_INPUT
    assert caught.value.field == "x-nova-read-after"


def test_positions_parse_as_decimal_bytes() -> None:
    assert consistency.parse_position(" 42 ", field="f") == 42
    assert consistency.parse_position("", field="f") == 0
    assert consistency.parse_position(None, field="f") == 0
