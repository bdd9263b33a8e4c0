"""Hydrator: concurrent lookups become one call per scope; errors stay with their scope."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from nova.platform import errors
from nova.platform.context import Actor
from nova.platform.resilience import DeadlineExceededError, deadline
from nova.platform.rpc import Hydrator, RetryBudget

if TYPE_CHECKING:
    from collections.abc import Sequence

ACTOR = Actor.anonymous(tenant_id="t")


async def test_concurrent_callers_share_one_call_per_scope() -> None:
    calls: list[tuple[str, list[int]]] = []

    async def load(_actor: Actor, scope: str, keys: Sequence[int]) -> dict[int, str]:
        calls.append((scope, sorted(keys)))
        return {k: f"{scope}{k}" for k in keys if k != 99}

    hydrator: Hydrator[str, int, str] = Hydrator(load, window=0.005, max_batch=100)
    results = await asyncio.gather(
        hydrator.get_many(ACTOR, "a", [1, 2]),
        hydrator.get_many(ACTOR, "a", [2, 3, 99]),
        hydrator.get_many(ACTOR, "b", [1]),
    )
    assert list(results) == [{1: "a1", 2: "a2"}, {2: "a2", 3: "a3"}, {1: "b1"}]
    assert sorted(calls) == [("a", [1, 2, 3, 99]), ("b", [1])]
    assert hydrator.rpcs == 2


async def test_one_scope_failing_leaves_the_other_served() -> None:
    async def load(_actor: Actor, scope: str, keys: Sequence[int]) -> dict[int, int]:
        if scope == "bad":
            raise errors.UnavailableError("down", dependency="users")
        return {k: k for k in keys}

    hydrator: Hydrator[str, int, int] = Hydrator(load, window=0.005, max_batch=100)
    good, bad = await asyncio.gather(
        hydrator.get_many(ACTOR, "good", [1]),
        hydrator.get_many(ACTOR, "bad", [1]),
        return_exceptions=True,
    )
    assert good == {1: 1}
    assert isinstance(bad, errors.UnavailableError)


async def test_a_caller_waits_no_longer_than_its_deadline() -> None:
    async def slow(_actor: Actor, _scope: str, keys: Sequence[int]) -> dict[int, int]:
        await asyncio.sleep(1)
        return {k: k for k in keys}

    hydrator: Hydrator[str, int, int] = Hydrator(slow, window=0.001, max_batch=100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with deadline(0.05), pytest.raises(DeadlineExceededError):
        await hydrator.get_many(ACTOR, "s", [1])
    assert loop.time() - started < 0.1


def test_retry_budget_allows_ratio_of_calls_after_the_reserve() -> None:
    budget = RetryBudget(0.1, reserve=2)
    assert budget.spend()
    assert budget.spend()
    assert not budget.spend()  # reserve spent
    for _ in range(10):
        budget.earn()
    assert budget.spend()
    assert not budget.spend()
    assert (budget.spent, budget.refused) == (3, 2)
