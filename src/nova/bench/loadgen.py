"""An open-loop HTTP/1.1 load generator on raw asyncio streams (keep-alive, no library).

httpx costs ~10x the CPU per request of a bare stream; on a 2-core machine shared with the
server, the generator must stay a small fraction of one core. Each request is due at an
*intended* time fixed in advance (:func:`nova.bench.stats.intended_times`) and its latency is
measured from then, so time spent queued behind a slow server (or a busy generator) counts.
The generator's own delay (actual send - intended) is recorded separately as ``send_lag``.

Example:
    >>> async with HttpClient("127.0.0.1", 8000) as client:          # doctest: +SKIP
    ...     status, body = await client.post("/graphql", b'{"query":"{__typename}"}')
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

import psutil

from nova.bench.stats import Latencies, intended_times

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = ["HttpClient", "Request", "StepResult", "run_step"]

#: Seconds a request may take before it counts as an error.
_REQUEST_TIMEOUT = 10.0


class HttpClient:
    """A pool of keep-alive HTTP/1.1 connections to one host.

    Args:
        host: Server address (loopback).
        port: Server port.
        max_connections: Most connections open at once; further requests wait for one.
    """

    def __init__(self, host: str, port: int, *, max_connections: int = 256) -> None:
        self._host = host
        self._port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._head = f"Host: {host}:{port}\r\nContent-Type: application/json\r\n"

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(
        self, method: str, path: str, body: bytes = b"", *, token: str | None = None
    ) -> tuple[int, bytes]:
        """Send one request and read the whole response.

        Returns:
            The status code and the body.

        Raises:
            OSError, asyncio.IncompleteReadError, ValueError: the connection failed.
        """
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = f"{method} {path} HTTP/1.1\r\n{self._head}{auth}Content-Length: {len(body)}\r\n\r\n"
        async with self._slots:
            reader, writer = await self._connection()
            try:
                writer.write(head.encode() + body)
                status, payload, keep = await _read_response(reader)
            except (Exception, asyncio.CancelledError):
                writer.close()
                raise
            if keep:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status, payload

    async def post(self, path: str, body: bytes, *, token: str | None = None) -> tuple[int, bytes]:
        """``request("POST", ...)``."""
        return await self.request("POST", path, body, token=token)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        return await asyncio.open_connection(self._host, self._port)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One request of a scenario: its name, JSON body and bearer token (None: anonymous)."""

    scenario: str
    body: bytes
    token: str | None


@dataclasses.dataclass(slots=True)
class StepResult:
    """What one constant-rate step measured.

    Attributes:
        rate: Offered requests per second.
        duration: Seconds from the first due time to the last completion.
        latency: Every request, from its intended send time to its last response byte.
        by_scenario: The same, per scenario.
        errors: Requests that failed (transport error, timeout, status >= 400 or GraphQL
            errors), per scenario.
        send_lag: How late the generator sent each request (its own overhead).
        generator_cpu: CPU seconds the generator process used during the step.
    """

    rate: float
    duration: float = 0.0
    latency: Latencies = dataclasses.field(default_factory=Latencies)
    by_scenario: dict[str, Latencies] = dataclasses.field(default_factory=dict)
    errors: dict[str, int] = dataclasses.field(default_factory=dict)
    send_lag: Latencies = dataclasses.field(default_factory=Latencies)
    generator_cpu: float = 0.0
    error_samples: list[str] = dataclasses.field(default_factory=list)

    @property
    def requests(self) -> int:
        """Requests completed (successfully or not)."""
        return self.latency.count

    @property
    def error_count(self) -> int:
        """Failed requests."""
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        """Failed share of the requests (0 when none were sent)."""
        return self.error_count / self.requests if self.requests else 0.0

    @property
    def throughput(self) -> float:
        """Completed requests per second."""
        return self.requests / self.duration if self.duration else 0.0


def _failed(status: int, body: bytes) -> bool:
    # A non-empty "errors" list anywhere (top level or a mutation payload) is a failure.
    return status >= 400 or b'"errors":[{' in body


async def run_step(
    client: HttpClient,
    next_request: Callable[[], Request],
    *,
    rate: float,
    duration: float,
    path: str = "/graphql",
) -> StepResult:
    """Offer ``rate`` requests/s for ``duration`` s, open loop, and measure each one.

    Args:
        client: Where to send.
        next_request: Draws the next request (the scenario mix).
        rate: Requests per second.
        duration: Seconds of arrivals; the step then waits for the stragglers.
        path: Request path.
    """
    result = StepResult(rate=rate)
    loop = asyncio.get_running_loop()
    me = psutil.Process()
    cpu_before = sum(me.cpu_times()[:2])
    offsets = intended_times(rate=rate, duration=duration)
    start = loop.time() + 0.02

    async def one(request: Request, due: float) -> None:
        result.send_lag.record_seconds(loop.time() - due)
        hist = result.by_scenario.setdefault(request.scenario, Latencies())
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                status, body = await client.post(path, request.body, token=request.token)
            failed = _failed(status, body)
            if failed and len(result.error_samples) < 5:
                result.error_samples.append(f"{request.scenario} {status}: {body[:300]!r}")
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            failed = True
            if len(result.error_samples) < 5:
                result.error_samples.append(f"{request.scenario}: {type(exc).__name__} {exc}")
        elapsed = loop.time() - due
        result.latency.record_seconds(elapsed)
        hist.record_seconds(elapsed)
        if failed:
            result.errors[request.scenario] = result.errors.get(request.scenario, 0) + 1

    async with asyncio.TaskGroup() as group:
        index = 0
        while index < len(offsets):
            now = loop.time()
            # Send everything due by now in one go: one wake-up per batch, not per request.
            while index < len(offsets) and start + offsets[index] <= now:
                group.create_task(one(next_request(), start + offsets[index]))
                index += 1
            if index < len(offsets):
                await asyncio.sleep(max(0.0, start + offsets[index] - loop.time()))
    result.duration = max(loop.time() - start, 1e-9)
    result.generator_cpu = sum(me.cpu_times()[:2]) - cpu_before
    return result
