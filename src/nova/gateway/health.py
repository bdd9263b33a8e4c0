"""Health checks of the engines, for ``/healthz`` and for ``nova doctor``.

Two families, both bounded by a timeout:

* ``check_*`` reuse the app's long-lived clients and report a :class:`Check` (never raise);
* ``probe_*`` open a fresh connection, as an operator's first contact would, and raise
  :class:`~nova.platform.errors.ConfigurationError` naming the setting when it fails.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import socket
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from nova.platform import analytics, errors, rpc

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = [
    "Check",
    "ClickHouse",
    "Probe",
    "check_clickhouse",
    "check_postgres",
    "check_redis",
    "check_service",
    "mask_url",
    "probe_clickhouse",
    "probe_postgres",
    "probe_redis",
    "redis_client",
]

#: Seconds one ``/healthz`` check may take.
CHECK_TIMEOUT = 1.0


@dataclass(frozen=True)
class Check:
    """Outcome of one health check, as rendered in ``/healthz``."""

    status: Literal["ok", "error"]
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape: ``{"status", "latency_ms"[, "error"]}``."""
        data: dict[str, Any] = {"status": self.status, "latency_ms": round(self.latency_ms, 2)}
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class Probe:
    """What ``nova doctor`` learned about one engine."""

    version: str
    latency_ms: float


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, safe to print."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def redis_client(url: str, *, timeout: float) -> Redis:
    """A Redis client that fails within ``timeout`` and never retries.

    redis-py retries three times with backoff by default; on a frozen server that turns a
    quarter-second budget into most of a minute (DESIGN invariant 1).
    """
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class ClickHouse:
    """ClickHouse for health checks: the process's chdb session (``chdb://``) or an HTTP server.

    For ``chdb://`` URLs the session is the process's shared one
    (:mod:`nova.platform.analytics.shared`): the same the embedded engine and the runtime use,
    never a second one.
    """

    def __init__(self, url: str, *, io_timeout: float = CHECK_TIMEOUT) -> None:
        self._url = url
        self._io_timeout = io_timeout
        self._client: analytics.ClickHouse | None = None

    async def open(self) -> None:
        """Acquire the shared chdb client off the event loop (a no-op for HTTP servers)."""
        if self._url.startswith("chdb://") and self._client is None:
            self._client = await analytics.open_client(self._url)

    async def close(self) -> None:
        """Release the shared chdb client, if held."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def scalar(self, sql: str) -> str:
        """Run ``sql`` and return its first value as text; never blocks the event loop.

        chdb cannot be interrupted, so callers bound the wait with ``asyncio.timeout``;
        HTTP requests are also bounded by ``io_timeout`` at the socket.
        """
        if self._url.startswith("chdb://"):
            await self.open()
            client = self._client
            if client is None:
                raise RuntimeError("the ClickHouse health client was closed")
            rows = await client.query(sql)
            return str(rows[0][0]) if rows and rows[0] else ""
        return await asyncio.to_thread(_http_query, self._url, sql, self._io_timeout)


def _http_query(url: str, sql: str, timeout: float) -> str:
    parts = urllib.parse.urlsplit(url)
    scheme = "https" if parts.scheme == "https" else "http"
    port = parts.port or (8443 if scheme == "https" else 8123)
    query = urllib.parse.urlencode({"query": sql})
    request = urllib.request.Request(f"{scheme}://{parts.hostname}:{port}/?{query}")  # noqa: S310  # scheme forced to http(s) above
    if parts.username:
        token = f"{parts.username}:{parts.password or ''}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # as above
        body: bytes = response.read()
    return body.decode().strip()


async def _timed(awaitable: Awaitable[Any], *, seconds: float) -> tuple[Any, float]:
    started = time.perf_counter()
    async with asyncio.timeout(seconds):
        result = await awaitable
    return result, (time.perf_counter() - started) * 1000


async def check_postgres(pool: asyncpg.Pool[Any]) -> Check:
    """``SELECT 1`` through the app's pool within :data:`CHECK_TIMEOUT`."""

    async def _ping() -> None:
        # acquire() waits forever by default (DESIGN invariant 1), hence its own bound.
        async with pool.acquire(timeout=CHECK_TIMEOUT) as conn:
            await conn.fetchval("SELECT 1")

    return await _check(_ping())


async def check_redis(client: Redis) -> Check:
    """``PING`` through the app's client within :data:`CHECK_TIMEOUT`."""
    return await _check(client.ping())


async def check_clickhouse(target: ClickHouse) -> Check:
    """``SELECT 1`` on ClickHouse within :data:`CHECK_TIMEOUT`."""
    return await _check(target.scalar("SELECT 1"))


async def check_service(address: str, *, name: str) -> Check:
    """The service process ``name`` at ``address`` reports SERVING over gRPC health."""

    async def serving() -> None:
        if not await rpc.check_health(address, seconds=CHECK_TIMEOUT):
            raise errors.UnavailableError(f"{name} is not serving at {address}", dependency=name)

    return await _check(serving())


async def _check(awaitable: Awaitable[Any]) -> Check:
    started = time.perf_counter()
    try:
        await _timed(awaitable, seconds=CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001  # a health check reports every failure as data
        elapsed = (time.perf_counter() - started) * 1000
        error = _describe(exc, seconds=CHECK_TIMEOUT)
        return Check(status="error", latency_ms=elapsed, error=error)
    return Check(status="ok", latency_ms=(time.perf_counter() - started) * 1000)


async def probe_postgres(url: str, *, connect_timeout: float) -> Probe:
    """Connect to PostgreSQL afresh and read its version.

    Raises:
        errors.ConfigurationError: naming ``NOVA_DATABASE_URL`` and the cause.
    """
    seconds = connect_timeout
    try:
        conn = await asyncpg.connect(url, timeout=seconds, command_timeout=seconds)
    except Exception as exc:
        raise _config_error("NOVA_DATABASE_URL", url, exc, seconds=seconds) from exc
    try:
        version, latency = await _timed(conn.fetchval("SHOW server_version"), seconds=seconds)
    except Exception as exc:
        raise _config_error("NOVA_DATABASE_URL", url, exc, seconds=seconds) from exc
    finally:
        await conn.close(timeout=seconds)
    return Probe(version=f"PostgreSQL {version}", latency_ms=latency)


async def probe_redis(url: str, *, connect_timeout: float) -> Probe:
    """Connect to Redis afresh and read its version.

    Raises:
        errors.ConfigurationError: naming ``NOVA_REDIS_URL`` and the cause.
    """
    seconds = connect_timeout
    client = redis_client(url, timeout=seconds)
    try:
        info = await client.info("server")
        _, latency = await _timed(client.ping(), seconds=seconds)
    except Exception as exc:
        raise _config_error("NOVA_REDIS_URL", url, exc, seconds=seconds) from exc
    finally:
        await client.aclose()
    return Probe(version=f"Redis {info.get('redis_version', '?')}", latency_ms=latency)


async def probe_clickhouse(url: str, *, connect_timeout: float) -> Probe:
    """Query ClickHouse (chdb or HTTP) for its version.

    Raises:
        errors.ConfigurationError: naming ``NOVA_CLICKHOUSE_URL`` and the cause.
    """
    seconds = connect_timeout
    target = ClickHouse(url, io_timeout=seconds)
    try:
        version, latency = await _timed(target.scalar("SELECT version()"), seconds=seconds)
    except Exception as exc:
        raise _config_error("NOVA_CLICKHOUSE_URL", url, exc, seconds=seconds) from exc
    finally:
        await target.close()
    kind = "chdb" if url.startswith("chdb://") else "ClickHouse"
    return Probe(version=f"{kind} {version}", latency_ms=latency)


def _config_error(
    setting: str, url: str, exc: BaseException, *, seconds: float
) -> errors.ConfigurationError:
    return errors.ConfigurationError(setting=setting, reason=_describe(exc, url, seconds=seconds))


_AUTH_ERRORS = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    redis_errors.AuthenticationError,
    redis_errors.AuthenticationWrongNumberOfArgsError,
)


def _describe(exc: BaseException, url: str | None = None, *, seconds: float) -> str:
    """One human line for a connection failure, with the address and never a password."""
    where = _address(url) if url else "the server"
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, _AUTH_ERRORS):
            return f"authentication failed at {where} ({item}); check the user and password"
        if isinstance(item, asyncpg.InvalidCatalogNameError):
            return f"{item} at {where}; create it or fix the database name"
        if isinstance(item, ConnectionRefusedError) or (
            isinstance(item, OSError) and item.errno == errno.ECONNREFUSED
        ):
            return f"connection refused at {where}"
        if isinstance(item, socket.gaierror):
            return f"cannot resolve the host of {where}"
        if isinstance(item, TimeoutError | redis_errors.TimeoutError):
            return f"no answer from {where} within {seconds:g}s"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "refused" in text.lower():
        return f"connection refused at {where}"
    return f"{text} ({where})" if url else text


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _address(url: str) -> str:
    if url.startswith("chdb://"):
        return url.removeprefix("chdb://")
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    return f"{host}:{port}" if port else host
