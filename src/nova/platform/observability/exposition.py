"""``/metrics`` for processes without an HTTP server: the gRPC services of the process wiring.

``nova serve users|content|feed`` speaks only gRPC, so a cluster could not scrape its pools,
breakers, server-side RED and event-pipeline gauges. :func:`listening` serves
:func:`~nova.platform.observability.metrics.scrape` on its own port in the process's event
loop. Not prometheus_client's threaded server: the scrape refreshes values that are read
asynchronously (outbox age, consumer lag), which needs the loop that owns their clients.

HTTP/1.0 with ``Connection: close``: one scrape per connection, every few seconds; anything
but ``GET /metrics`` is a 404, a request line or headers over 8 KiB a 400.

Example:
    >>> async with listening("127.0.0.1", 9464):   # doctest: +SKIP
    ...     await serve_until_signal(server)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from nova.platform.observability import metrics

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["listening"]

logger = logging.getLogger(__name__)

_MAX_HEAD = 8192
_READ_TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def listening(host: str, port: int) -> AsyncIterator[int]:
    """Serve ``GET /metrics`` on ``host:port`` for the duration of the block.

    Args:
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.

    Yields:
        The bound port.
    """
    server = await asyncio.start_server(_answer, host, port, limit=_MAX_HEAD)
    bound: int = server.sockets[0].getsockname()[1]
    logger.info("metrics on http://%s:%d/metrics", host, bound)
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        async with asyncio.timeout(_READ_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
        method, path = _request_line(head)
        if method == "GET" and path.split("?", 1)[0] == "/metrics":
            body, content_type = await metrics.scrape()
            _respond(writer, b"200 OK", body, content_type)
        else:
            _respond(writer, b"404 Not Found", b"only GET /metrics here\n", "text/plain")
        await writer.drain()
    except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, ValueError):
        _respond(writer, b"400 Bad Request", b"bad request\n", "text/plain")
        with contextlib.suppress(OSError):
            await writer.drain()
    except (TimeoutError, OSError):
        pass  # a client that went quiet or away gets nothing
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _request_line(head: bytes) -> tuple[str, str]:
    """``(method, path)`` of an HTTP request head.

    Raises:
        ValueError: not ``METHOD PATH VERSION``.
    """
    method, path, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    return method, path


def _respond(writer: asyncio.StreamWriter, status: bytes, body: bytes, content_type: str) -> None:
    writer.write(
        b"HTTP/1.0 " + status + b"\r\nContent-Type: " + content_type.encode("latin-1")
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
        + body
    )  # fmt: skip
