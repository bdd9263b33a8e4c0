"""Coalescer: gather single-key lookups for a short window and make one batched call.

Callers ask for one key each; keys arriving within ``window`` seconds (or until ``max_batch``
distinct keys are pending) go out in one call to ``load``. ``load`` returns a mapping with a
value *or an exception* per key, so one bad key fails only its own callers; a key missing
from the mapping fails with :class:`KeyError`; if ``load`` itself raises, every caller of
that batch gets the error.

Cancellation: a cancelled caller leaves only its own future; its key is dropped from a batch
that has not started when nobody else wants it, and a running batch is cancelled only when
every one of its callers has gone.

Each batch's size is observed in ``nova_coalescer_batch_size{name}``: mostly 1 means the
window buys nothing, mostly ``max_batch`` means it is too small.

Example:
    >>> async def load_users(ids): return {i: await fetch(i) for i in ids}  # doctest: +SKIP
    >>> users = Coalescer(load_users, window=0.002, max_batch=100, name="users")  # doctest: +SKIP
    >>> alice = await users.get(alice_id)                                     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Generic, TypeVar

from nova.platform.observability import metrics

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence

__all__ = ["Coalescer"]

K = TypeVar("K", bound="Hashable")
V = TypeVar("V")


class _Batch(Generic[K, V]):
    __slots__ = ("task", "waiters")

    def __init__(self) -> None:
        self.waiters: dict[K, list[asyncio.Future[V]]] = {}
        self.task: asyncio.Task[None] | None = None

    def live(self) -> bool:
        return any(not f.done() for futs in self.waiters.values() for f in futs)


class Coalescer(Generic[K, V]):
    """Turns concurrent ``get(key)`` calls into batched ``load(keys)`` calls.

    Args:
        load: One call for many keys; returns ``{key: value | Exception}``.
        window: Seconds to wait for more keys after the first (1-2 ms suits a request path).
        max_batch: Distinct keys that make a batch go out at once.
        name: Metric label of this coalescer, fixed by code (``users``, ``posts``).
    """

    def __init__(
        self,
        load: Callable[[Sequence[K]], Awaitable[Mapping[K, V | Exception]]],
        *,
        window: float = 0.002,
        max_batch: int = 100,
        name: str = "unnamed",
    ) -> None:
        self._load = load
        self._batch_size = metrics.COALESCER_BATCH_SIZE.labels(name)
        self._window = window
        self._max_batch = max_batch
        self._open: _Batch[K, V] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.batches = 0

    async def get(self, key: K) -> V:
        """The value for ``key`` from the next batch.

        Raises:
            KeyError: ``load`` returned nothing for ``key``.
            Exception: the error ``load`` returned for ``key``, or raised for the batch.
        """
        loop = asyncio.get_running_loop()
        batch = self._open
        if batch is None:
            batch = self._open = _Batch()
            self._timer = loop.call_later(self._window, self._dispatch)
        future: asyncio.Future[V] = loop.create_future()
        batch.waiters.setdefault(key, []).append(future)
        future.add_done_callback(lambda _f: self._on_waiter_done(batch))
        if len(batch.waiters) >= self._max_batch:
            self._dispatch()
        return await future

    def _on_waiter_done(self, batch: _Batch[K, V]) -> None:
        if batch.task is not None and not batch.task.done() and not batch.live():
            batch.task.cancel()

    def _dispatch(self) -> None:
        batch, self._open = self._open, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if batch is None:
            return
        # Keys whose callers all left before the batch went out are not loaded at all.
        keys = [k for k, futs in batch.waiters.items() if any(not f.done() for f in futs)]
        if not keys:
            return
        self.batches += 1
        self._batch_size.observe(len(keys))
        batch.task = asyncio.get_running_loop().create_task(self._run(batch, keys))

    async def _run(self, batch: _Batch[K, V], keys: list[K]) -> None:
        try:
            results = await self._load(keys)
        except Exception as exc:  # noqa: BLE001  # handed to every caller of this batch
            for futs in batch.waiters.values():
                for future in futs:
                    if not future.done():
                        future.set_exception(exc)
            return
        for key, futs in batch.waiters.items():
            outcome: V | Exception = (
                results[key] if key in results else KeyError(f"no result for key {key!r}")
            )
            for future in futs:
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
