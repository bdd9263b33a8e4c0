"""One chdb session per data path per process, shared by everything that asks for it.

chdb embeds one ClickHouse server per process and binds it to one data path; a second
``Session`` on the same path is a second handle on that server, and another path fails. So the
embedded engine, the ``/healthz`` check, the runtime and the CLI all :func:`acquire` the same
:class:`~nova.platform.analytics.ChdbClickHouse` here (reference-counted, one lock serializing
its statements) and :func:`release` it; the session closes when the last holder releases.

Example:
    >>> ch = acquire("/srv/nova/clickhouse/data")   # doctest: +SKIP
    >>> rows = await ch.query("SELECT 1")            # doctest: +SKIP
    >>> release("/srv/nova/clickhouse/data")         # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from nova.platform.analytics.client import ChdbClickHouse, ClickHouse, connect

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["acquire", "holders", "open_client", "release"]


@dataclasses.dataclass(slots=True)
class _Entry:
    client: ChdbClickHouse
    session: Any
    holders: int


_lock = threading.Lock()
_entries: dict[str, _Entry] = {}


def _key(path: str | Path) -> str:
    return str(Path(path).absolute())


def acquire(path: str | Path) -> ChdbClickHouse:
    """The process's client for the chdb data at ``path``, opening the session if needed.

    Blocking (opening a session maps chdb's library): call it off the event loop.

    Args:
        path: The data directory (the path of a ``chdb:///path`` URL).

    Returns:
        The shared client; pair every call with :func:`release`.
    """
    key = _key(path)
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            # Imported here: loading chdb maps a ~500 MB library, paid only by processes
            # that actually embed ClickHouse.
            from chdb import session as chdb_session

            session = chdb_session.Session(key)  # type: ignore[no-untyped-call]  # chdb ships no annotations
            entry = _Entry(client=ChdbClickHouse(session), session=session, holders=0)
            _entries[key] = entry
        entry.holders += 1
        return entry.client


def release(path: str | Path) -> None:
    """Give back one :func:`acquire`; the last one closes the session. Unknown paths: no-op."""
    key = _key(path)
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return
        entry.holders -= 1
        if entry.holders > 0:
            return
        del _entries[key]
        entry.session.close()


def holders(path: str | Path) -> int:
    """How many holders the session of ``path`` has (0 when closed); for tests and doctor."""
    with _lock:
        entry = _entries.get(_key(path))
        return 0 if entry is None else entry.holders


class _Lease(ClickHouse):
    """The shared chdb client, released (once) by :meth:`aclose`."""

    def __init__(self, path: str, client: ChdbClickHouse) -> None:
        self._path = path
        self._client: ChdbClickHouse | None = client

    def _live(self) -> ChdbClickHouse:
        if self._client is None:
            raise RuntimeError("this ClickHouse client is closed")
        return self._client

    @override
    async def command(self, sql: str) -> None:
        await self._live().command(sql)

    @override
    async def query(self, sql: str) -> list[list[Any]]:
        return await self._live().query(sql)

    @override
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        await self._live().insert(table, rows)

    @override
    async def aclose(self) -> None:
        if self._client is not None:
            self._client = None
            await asyncio.to_thread(release, self._path)


async def open_client(url: str, *, io_timeout: float = 10.0) -> ClickHouse:
    """A :class:`ClickHouse` for ``url``; ``chdb://`` URLs share this process's session.

    Args:
        url: ``chdb:///path`` or ``http(s)://user:password@host:port/database``.
        io_timeout: Connect and per-request timeout for a server, in seconds.

    Returns:
        A client whose ``aclose`` releases the shared session or closes the connection.
    """
    if url.startswith("chdb://"):
        path = url.removeprefix("chdb://")
        return _Lease(path, await asyncio.to_thread(acquire, path))
    return await asyncio.to_thread(connect, url, timeout=io_timeout)
