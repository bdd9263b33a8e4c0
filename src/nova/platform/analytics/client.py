"""The ClickHouse port and its two adapters (see the package docstring)."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["ChdbClickHouse", "ClickHouse", "ServerClickHouse", "UnavailableClickHouse", "connect"]


class ClickHouse(Protocol):
    """What Nova asks of ClickHouse."""

    async def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, INSERT … SELECT)."""
        ...

    async def query(self, sql: str) -> list[list[Any]]:
        """Rows of a SELECT, as lists of JSON-typed values."""
        ...

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (column → value) into ``table``."""
        ...

    async def aclose(self) -> None:
        """Release the connection or session."""
        ...


def _insert_sql(table: str, rows: Sequence[Mapping[str, Any]]) -> str:
    body = b"\n".join(orjson.dumps(dict(r)) for r in rows).decode()
    return f"INSERT INTO {table} FORMAT JSONEachRow\n{body}"


class ChdbClickHouse(ClickHouse):
    """ClickHouse in this process (chdb). One process may own a data path.

    Args:
        session: An open ``chdb.session.Session`` (e.g. ``EmbeddedClickHouse.session``).
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        # chdb sessions are not documented as thread-safe; one statement at a time.
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        """The underlying ``chdb.session.Session``."""
        return self._session

    def _run(self, sql: str, fmt: str) -> bytes:
        with self._lock:
            result = self._session.query(sql, fmt)
        return bytes(result.bytes()) if result is not None else b""

    @override
    async def command(self, sql: str) -> None:
        await asyncio.to_thread(self._run, sql, "CSV")

    @override
    async def query(self, sql: str) -> list[list[Any]]:
        raw = await asyncio.to_thread(self._run, sql, "JSONCompact")
        return list(orjson.loads(raw)["data"]) if raw.strip() else []

    @override
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.command(_insert_sql(table, rows))

    @override
    async def aclose(self) -> None:
        """The session belongs to its owner (EmbeddedClickHouse); nothing to close here."""


class ServerClickHouse(ClickHouse):
    """A ClickHouse server over HTTP (clickhouse-connect).

    Args:
        client: A ``clickhouse_connect`` client.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def _command(self, sql: str) -> None:
        with self._lock:
            self._client.command(sql)

    def _query(self, sql: str) -> list[list[Any]]:
        with self._lock:
            raw = self._client.raw_query(sql, fmt="JSONCompact")
        return list(orjson.loads(raw)["data"])

    @override
    async def command(self, sql: str) -> None:
        await asyncio.to_thread(self._command, sql)

    @override
    async def query(self, sql: str) -> list[list[Any]]:
        return await asyncio.to_thread(self._query, sql)

    @override
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.command(_insert_sql(table, rows))

    @override
    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


class UnavailableClickHouse(ClickHouse):
    """ClickHouse when none is configured: every statement fails with ``ConnectionError``.

    Lets the services that degrade without ClickHouse (recommendations fall back to the
    chronological feed) run unchanged when ``NOVA_CLICKHOUSE_URL`` is unset.
    """

    def __init__(self, reason: str = "NOVA_CLICKHOUSE_URL is not set") -> None:
        self._reason = reason

    @override
    async def command(self, sql: str) -> None:
        raise ConnectionError(self._reason)

    @override
    async def query(self, sql: str) -> list[list[Any]]:
        raise ConnectionError(self._reason)

    @override
    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        raise ConnectionError(self._reason)

    @override
    async def aclose(self) -> None:
        """Nothing to release."""


def connect(url: str, *, session: Any = None, timeout: float = 10.0) -> ClickHouse:
    """A :class:`ClickHouse` for ``url``.

    Args:
        url: ``chdb:///path`` (needs ``session``, the owner's chdb session) or
            ``http(s)://user:password@host:port/database``.
        session: The chdb session of this process, for ``chdb://`` URLs.
        timeout: Connect and per-request timeout for a server, in seconds.

    Raises:
        ValueError: a ``chdb://`` URL without a session.
    """
    if url.startswith("chdb://"):
        if session is None:
            raise ValueError("chdb:// needs the process's chdb session (one owner per path)")
        return ChdbClickHouse(session)
    import clickhouse_connect

    parts = urllib.parse.urlsplit(url)
    client = clickhouse_connect.get_client(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8443 if parts.scheme == "https" else 8123),
        username=urllib.parse.unquote(parts.username or "default"),
        password=urllib.parse.unquote(parts.password or ""),
        database=parts.path.lstrip("/") or "default",
        secure=parts.scheme == "https",
        connect_timeout=timeout,
        send_receive_timeout=timeout,
    )
    return ServerClickHouse(client)
