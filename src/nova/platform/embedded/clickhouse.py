"""ClickHouse in-process through chdb, with its data in ``<data_dir>/clickhouse``.

chdb runs inside the Python process, so only one process may own a data path; the
``engine.lock`` flock makes a second owner fail with a clear message instead of corrupting it.
Inside the process the session is the shared one of :mod:`nova.platform.analytics.shared`, so
the health check, the runtime and the CLI reuse it instead of opening another.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from nova.platform import errors
from nova.platform.analytics import shared
from nova.platform.embedded import _process

__all__ = ["EmbeddedClickHouse", "chdb_path"]

_SETTING = "NOVA_CLICKHOUSE_URL"
_SCHEME = "chdb://"


def chdb_path(url: str) -> Path | None:
    """The data path of a ``chdb:///abs/path`` URL, or ``None`` for any other URL."""
    if not url.startswith(_SCHEME):
        return None
    return Path(url.removeprefix(_SCHEME))


class EmbeddedClickHouse:
    """An in-process ClickHouse (chdb session) whose data lives in ``data_dir/clickhouse``.

    Example:
        >>> ch = EmbeddedClickHouse(Path(".nova"))
        >>> ch.start()  # doctest: +SKIP
        'chdb:///home/me/project/.nova/clickhouse'
        >>> ch.session.query("SELECT 1", "TabSeparated").bytes().strip()  # doctest: +SKIP
        b'1'
        >>> ch.stop()  # doctest: +SKIP
    """

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir).absolute() / "clickhouse"
        self._lock = _process.DirLock(self._dir, engine="ClickHouse (chdb)")
        self._mutex = threading.Lock()
        self._session: Any = None
        self._path: Path | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The ``chdb:///abs/path`` URL.

        Raises:
            RuntimeError: when the engine was not started by this object.
        """
        if self._url is None:
            raise RuntimeError("embedded ClickHouse is not started; call start() first")
        return self._url

    @property
    def session(self) -> Any:
        """The open ``chdb.session.Session`` (chdb ships no type information).

        Raises:
            RuntimeError: when the engine was not started by this object.
        """
        if self._session is None:
            raise RuntimeError("embedded ClickHouse is not started; call start() first")
        return self._session

    def start(self, *, timeout: float = 30.0) -> str:
        """Open the chdb session and return its URL. Idempotent.

        ``timeout`` exists for symmetry with the other engines: opening a session is a local
        call that takes well under a second.

        Raises:
            errors.ConfigurationError: unusable data dir, or chdb failed to open it.
        """
        del timeout
        with self._mutex:
            if self._url is not None:
                return self._url
            path = _process.prepare_dir(self._dir / "data")
            self._lock.acquire()
            try:
                self._session = shared.acquire(path).session
                self._path = path
                self._session.query("SELECT 1")
            except Exception as exc:
                self._lock.release()
                self._session = None
                if self._path is not None:
                    shared.release(self._path)
                    self._path = None
                raise errors.ConfigurationError(
                    setting=_SETTING, reason=f"embedded ClickHouse (chdb) failed to open: {exc}"
                ) from exc
            except BaseException:
                self._lock.release()
                raise
            self._url = f"{_SCHEME}{path}"
            return self._url

    def stop(self, *, timeout: float = 10.0) -> None:
        """Release the session (closed, and its parts flushed, with its last holder).

        Safe to call when not started.
        """
        del timeout
        with self._mutex:
            if self._session is None:
                return
            try:
                if self._path is not None:
                    shared.release(self._path)
            finally:
                self._session = None
                self._path = None
                self._url = None
                self._lock.release()
