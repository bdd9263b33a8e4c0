"""An in-process asyncio TCP proxy that injects network faults on loopback.

No ``tc netem`` or toxiproxy here (RELIABILITY.md), so tests put this between a client and a
server and switch its :class:`Fault` while traffic flows:

=============  =================================================================
``NONE``       forward bytes both ways
``LATENCY``    delay every chunk by ``latency`` seconds
``BLACKHOLE``  accept, read and drop everything (a frozen peer or a dropped route)
``RESET``      abort open and new connections with a TCP RST
``REFUSE``     stop listening: new connects are refused; open ones are reset
=============  =================================================================

Example:
    >>> async with FaultProxy(upstream_port=5432) as proxy:   # doctest: +SKIP
    ...     proxy.fault = Fault.BLACKHOLE
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import TracebackType

__all__ = ["Fault", "FaultProxy"]

#: Seconds close() waits for aborted connections' handlers to end before cancelling them.
_HANDLER_EXIT = 1.0


class Fault(enum.StrEnum):
    """What the proxy does to traffic."""

    NONE = "none"
    LATENCY = "latency"
    BLACKHOLE = "blackhole"
    RESET = "reset"
    REFUSE = "refuse"


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER 0 turns close() into an RST instead of a FIN.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:upstream_port`` with switchable faults.

    Args:
        upstream_port: The real server's port on 127.0.0.1.
        latency: Seconds added per chunk under ``Fault.LATENCY``.
    """

    def __init__(self, *, upstream_port: int, latency: float = 0.0) -> None:
        self.upstream_port = upstream_port
        self.latency = latency
        self.port = 0
        self._fault = Fault.NONE
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[object]] = set()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url_host_port(self) -> str:
        """``127.0.0.1:<port>`` to put in a client URL."""
        return f"127.0.0.1:{self.port}"

    @property
    def fault(self) -> Fault:
        """The fault in force."""
        return self._fault

    @fault.setter
    def fault(self, fault: Fault) -> None:
        self._fault = fault
        if fault in (Fault.RESET, Fault.REFUSE):
            for writer in list(self._writers):
                _reset(writer)
        if fault is Fault.REFUSE and self._server is not None:
            self._server.close()
            self._server = None
        elif fault is not Fault.REFUSE and self._server is None and self.port:
            self._spawn(self._listen())

    async def start(self) -> int:
        """Listen on a free port (kept across REFUSE periods); returns it."""
        await self._listen()
        return self.port

    async def close(self) -> None:
        """Stop listening and abort every proxied connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        # Aborted connections end their handlers; wait for them so none is left to be
        # cancelled by the loop's shutdown.
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=_HANDLER_EXIT)
        for task in [*self._tasks, *self._handlers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._handlers, return_exceptions=True)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            # Only close() or the loop's shutdown cancel a handler. End quietly: Python 3.11's
            # start_server calls task.exception() on a cancelled handler and logs what it raises.
            return
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._fault in (Fault.RESET, Fault.REFUSE):
            _reset(writer)
            return
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            _reset(writer)
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                if self._fault is Fault.BLACKHOLE:
                    continue
                if self._fault is Fault.LATENCY and self.latency > 0:
                    await asyncio.sleep(self.latency)
                writer.write(chunk)
                await writer.drain()
        # One direction ended: end the other too, as a real peer closing would.
        writer.transport.abort()
