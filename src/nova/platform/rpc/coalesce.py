"""Outbound coalescing: hydration lookups of concurrent requests become one RPC per scope.

A home-feed page, a profile and a comment thread served at the same moment each ask for a
few users or posts. :class:`Hydrator` gathers those keys for ``window`` seconds (or until
``max_batch`` keys wait) through :class:`~nova.platform.resilience.Coalescer`, then makes one
batched call per *scope*: the part of the caller's identity the answer depends on (tenant
for profiles; tenant and viewer for post visibility and like state). An error of one scope's
call fails only the keys of that scope; a key the service does not know is simply absent.

A coalesced RPC carries the actor (and so the correlation id) of the latest caller of its
scope; the others' correlation ids are not on it. Each caller waits at most its own deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from nova.platform.resilience import Coalescer, DeadlineExceededError, remaining

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from nova.platform.context import Actor

__all__ = ["Hydrator"]

S = TypeVar("S", bound=Hashable)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Absent:
    """The service answered, and the key is not there (distinct from a None value)."""


_ABSENT = _Absent()


class Hydrator(Generic[S, K, V]):
    """Coalesces ``get_many(actor, scope, keys)`` of concurrent callers.

    Args:
        load: One batched call: (actor, scope, keys) -> {key: value}; missing keys are absent.
        window: Seconds to collect keys after the first.
        max_batch: Keys that send a batch at once.
        name: Metric label (``nova_coalescer_batch_size{name}``), fixed by code: ``users``.
    """

    def __init__(
        self,
        load: Callable[[Actor, S, Sequence[K]], Awaitable[Mapping[K, V]]],
        *,
        window: float,
        max_batch: int,
        name: str = "unnamed",
    ) -> None:
        self._load = load
        self._actors: dict[S, Actor] = {}
        #: Batched calls made so far (one per scope per window).
        self.rpcs = 0
        self._coalescer: Coalescer[tuple[S, K], V | _Absent] = Coalescer(
            self._load_batch, window=window, max_batch=max_batch, name=name
        )

    async def get_many(self, actor: Actor, scope: S, keys: Sequence[K]) -> dict[K, V]:
        """The values of ``keys`` for ``scope``; unknown keys are absent.

        Raises:
            DeadlineExceededError: the caller's deadline passed while waiting.
            Exception: the error of the batched call of this scope.
        """
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        self._actors[scope] = actor
        left = remaining()
        try:
            async with asyncio.timeout(max(left, 0.0) if left is not None else None):
                values = await asyncio.gather(
                    *(self._coalescer.get((scope, key)) for key in unique)
                )
        except TimeoutError as exc:
            raise DeadlineExceededError(
                "The request ran out of time waiting for a batched lookup.", retry_after=0.5
            ) from exc
        return {
            key: value
            for key, value in zip(unique, values, strict=True)
            if not isinstance(value, _Absent)
        }

    async def _load_batch(
        self, keys: Sequence[tuple[S, K]]
    ) -> dict[tuple[S, K], V | _Absent | Exception]:
        by_scope: dict[S, list[K]] = {}
        for scope, key in keys:
            by_scope.setdefault(scope, []).append(key)
        scopes = list(by_scope)
        self.rpcs += len(scopes)
        results = await asyncio.gather(
            *(self._load(self._actors[scope], scope, by_scope[scope]) for scope in scopes),
            return_exceptions=True,
        )
        out: dict[tuple[S, K], V | _Absent | Exception] = {}
        for scope, result in zip(scopes, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation is not a per-key outcome
            for key in by_scope[scope]:
                out[scope, key] = (
                    result if isinstance(result, Exception) else result.get(key, _ABSENT)
                )
        return out
