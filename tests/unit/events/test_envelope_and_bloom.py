"""Envelope wire form and Bloom sizing (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from nova.platform.events import BloomPolicy, StoredEvent
from nova.platform.events.envelope import decode, encode
from nova.platform.ids import new_id


def test_an_envelope_survives_the_wire() -> None:
    event = StoredEvent(
        seq=7,
        event_id=new_id(),
        tenant_id="default",
        event_type="PostPublished",
        aggregate_type="post",
        aggregate_id="p1",
        payload={"post_id": "p1", "n": [1, 2]},
        correlation_id="c1",
        occurred_at=dt.datetime.now(dt.UTC),
        aggregate_version=3,
        trace_id="t1",
        schema_version=2,
    )

    assert decode(encode(event)) == event


def test_garbage_is_not_an_envelope() -> None:
    with pytest.raises(ValueError, match="not an event envelope"):
        decode(b'{"seq": 1}')


@pytest.mark.parametrize(("capacity", "rate"), [(1_000, 0.05), (1_000_000, 0.01), (10, 0.001)])
def test_bloom_sizing_meets_the_target_rate(capacity: int, rate: float) -> None:
    policy = BloomPolicy(capacity=capacity, error_rate=rate)

    assert policy.expected_rate <= rate * 1.1
    assert policy.hashes >= 1


def test_bloom_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="error_rate"):
        BloomPolicy(error_rate=1.5)
