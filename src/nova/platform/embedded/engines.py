"""Start the engines a process needs: embedded where the URL is unset, external otherwise."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Self

from pydantic import SecretStr

from nova.platform import errors
from nova.platform.embedded import _process
from nova.platform.embedded.clickhouse import EmbeddedClickHouse
from nova.platform.embedded.postgres import EmbeddedPostgres
from nova.platform.embedded.redis import EmbeddedRedis

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from nova.platform.config import Settings

__all__ = ["ENGINE_NAMES", "ENGINE_SETTINGS", "EngineEndpoints", "Engines"]

#: The engines Nova uses, in display order.
ENGINE_NAMES = ("postgres", "redis", "clickhouse")
#: The setting that names each engine's URL (unset: embedded).
ENGINE_SETTINGS = {
    "postgres": "NOVA_DATABASE_URL",
    "redis": "NOVA_REDIS_URL",
    "clickhouse": "NOVA_CLICKHOUSE_URL",
}

#: Seconds an embedded engine may take to come up or go down.
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0


class _Engine(Protocol):
    def start(self, *, timeout: float = ...) -> str: ...
    def stop(self, *, timeout: float = ...) -> None: ...


@dataclass(frozen=True)
class EngineEndpoints:
    """Where each engine answers, and which of them run embedded in this process.

    ``embedded`` holds the names ``"postgres"``, ``"redis"`` and ``"clickhouse"`` of the
    engines started here. The URLs are plain strings: pass them on as
    :class:`pydantic.SecretStr` with :meth:`apply`.
    """

    database_url: str
    redis_url: str
    clickhouse_url: str
    embedded: frozenset[str]

    def apply(self, settings: Settings) -> Settings:
        """A copy of ``settings`` whose engine URLs point at these endpoints."""
        return settings.model_copy(
            update={
                "database_url": SecretStr(self.database_url),
                "redis_url": SecretStr(self.redis_url),
                "clickhouse_url": SecretStr(self.clickhouse_url),
            }
        )


class Engines:
    """Owns the embedded engines of one process.

    Example:
        >>> with Engines(settings) as engines:  # doctest: +SKIP
        ...     endpoints = engines.start()
        ...     settings = endpoints.apply(settings)

    Engines whose ``NOVA_*_URL`` is set are not started; their URL is passed through as is
    (``nova doctor`` and ``nova up`` check that they answer).
    """

    def __init__(self, settings: Settings, *, only: Iterable[str] | None = None) -> None:
        """Prepare (but do not start) the engines.

        Args:
            settings: The process settings; unset engine URLs mean embedded.
            only: Restrict to these engines (``"postgres"``, ``"redis"``, ``"clickhouse"``),
                for commands such as ``nova migrate`` that need only some of them.
        """
        self._settings = settings
        self._only = frozenset(only) if only is not None else frozenset(ENGINE_NAMES)
        self._started: dict[str, _Engine] = {}
        self._mutex = threading.Lock()
        self._endpoints: EngineEndpoints | None = None

    def start(self) -> EngineEndpoints:
        """Start the embedded engines in parallel and return every engine's endpoint.

        Idempotent. When one engine fails, the others are stopped again before the error is
        raised, so a failed start leaves no process behind.

        Raises:
            errors.ConfigurationError: naming the setting at fault (``NOVA_DATA_DIR`` for an
                unusable data dir, ``NOVA_DATABASE_URL`` when embedded PostgreSQL fails...).
        """
        with self._mutex:
            if self._endpoints is not None:
                return self._endpoints
            wanted = self._wanted()
            if wanted:
                _process.prepare_dir(self._settings.data_dir)
            urls = self._start_all(wanted)
            self._endpoints = EngineEndpoints(
                database_url=urls.get("postgres") or _secret(self._settings.database_url),
                redis_url=urls.get("redis") or _secret(self._settings.redis_url),
                clickhouse_url=urls.get("clickhouse") or _secret(self._settings.clickhouse_url),
                embedded=frozenset(wanted),
            )
            return self._endpoints

    def stop(self) -> None:
        """Stop every engine started here, in parallel; safe to call twice."""
        with self._mutex:
            self._stop_all()
            self._endpoints = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wanted(self) -> dict[str, _Engine]:
        data_dir = self._settings.data_dir
        wanted: dict[str, _Engine] = {}
        if self._settings.database_url is None:
            wanted["postgres"] = EmbeddedPostgres(data_dir)
        if self._settings.redis_url is None:
            wanted["redis"] = EmbeddedRedis(data_dir)
        if self._settings.clickhouse_url is None:
            wanted["clickhouse"] = EmbeddedClickHouse(data_dir)
        return {name: engine for name, engine in wanted.items() if name in self._only}

    def _start_all(self, wanted: dict[str, _Engine]) -> dict[str, str]:
        if not wanted:
            return {}
        # Threads, not processes: the work is waiting on initdb/pg_ctl/redis-server children
        # (and chdb's own native threads), so the GIL is not in the way.
        pool = ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="nova-engine")
        futures: dict[str, Future[str]] = {
            name: pool.submit(engine.start, timeout=_START_TIMEOUT)
            for name, engine in wanted.items()
        }
        try:
            urls: dict[str, str] = {}
            failures: list[BaseException] = []
            for name, future in futures.items():
                try:
                    urls[name] = future.result()
                    self._started[name] = wanted[name]
                except Exception as exc:  # noqa: BLE001  # collected; the first is raised below
                    failures.append(exc)
            if failures:
                raise _first_meaningful(failures)  # noqa: TRY301  # the except below cleans up
        except BaseException:
            # A failed start or a signal (Ctrl-C) mid-start: let the other starts finish so
            # that nothing they spawn is orphaned, then stop whatever came up.
            pool.shutdown(wait=True)
            for name, future in futures.items():
                if future.done() and future.exception() is None:
                    self._started[name] = wanted[name]
            self._stop_all()
            raise
        pool.shutdown(wait=True)
        return urls

    def _stop_all(self) -> None:
        started, self._started = self._started, {}
        if not started:
            return
        with ThreadPoolExecutor(max_workers=len(started)) as pool:
            for engine in started.values():
                pool.submit(_stop_quietly, engine)


def _stop_quietly(engine: _Engine) -> None:
    # Stopping is best effort by design: each engine already escalates to SIGKILL, and one
    # failing stop must not keep the others running.
    with contextlib.suppress(Exception):
        engine.stop(timeout=_STOP_TIMEOUT)


def _first_meaningful(failures: list[BaseException]) -> BaseException:
    # A data-dir problem explains every other failure, so it is the one worth reporting.
    for failure in failures:
        if isinstance(failure, errors.ConfigurationError) and failure.setting == "NOVA_DATA_DIR":
            return failure
    return failures[0]


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
