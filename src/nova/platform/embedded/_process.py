"""Plumbing shared by the embedded engines: data-dir locks, ports, bounded subprocesses."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import socket
import stat
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import psutil

from nova.platform import errors

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

#: OS user that runs PostgreSQL when Nova itself runs as root (initdb refuses root).
SERVICE_USER = "nova-pg"
#: Longest path a unix socket may have on Linux (``sun_path`` is 108 bytes with the NUL).
MAX_UNIX_SOCKET_PATH = 107

_user_lock = threading.Lock()


@dataclass(frozen=True)
class RunAs:
    """Who a child process runs as: ``None`` fields mean "as this process"."""

    uid: int | None = None
    gid: int | None = None
    name: str | None = None


def prepare_dir(path: Path, *, setting: str = "NOVA_DATA_DIR") -> Path:
    """Create ``path`` and prove it is writable.

    Raises:
        errors.ConfigurationError: naming ``setting`` when the directory cannot be used.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise errors.ConfigurationError(
            setting=setting,
            reason=f"cannot write to {path} ({exc.strerror or exc}); choose a writable directory",
        ) from exc
    return path.resolve()


class DirLock:
    """An exclusive ``flock`` on ``<dir>/engine.lock`` held while an engine is ours.

    The kernel drops the lock when the owning process dies, so a crashed ``nova up`` never
    leaves a stale lock behind, while a live one keeps a second process off the same data.
    """

    def __init__(self, directory: Path, *, engine: str) -> None:
        self._path = directory / "engine.lock"
        self._engine = engine
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or fail naming the process holding it."""
        if self._file is not None:
            return
        handle = self._path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise errors.ConfigurationError(
                setting="NOVA_DATA_DIR",
                reason=(
                    f"embedded {self._engine} in {self._path.parent} is in use by another "
                    f"Nova process (pid {holder}); stop it or use another data dir"
                ),
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Drop the lock; safe to call when not held."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def choose_port(port_file: Path) -> int:
    """Reuse the port remembered in ``port_file`` when it is free, else pick and remember one.

    A stable port lets operators keep a psql/redis-cli command in their shell history.
    """
    with contextlib.suppress(OSError, ValueError):
        remembered = int(port_file.read_text().strip())
        if 0 < remembered < 65536 and port_is_free(remembered):
            return remembered
    port = free_port()
    port_file.write_text(f"{port}\n")
    return port


def read_port(port_file: Path) -> int | None:
    """The remembered port, or ``None``."""
    try:
        return int(port_file.read_text().strip())
    except (OSError, ValueError):
        return None


def tcp_answers(port: int, probe: Callable[[socket.socket], bool], *, timeout: float) -> bool:
    """Connect to ``127.0.0.1:port`` and let ``probe`` talk to it; False on any socket error."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            return probe(sock)
    except OSError:
        return False


def unix_socket_fits(directory: Path, name: str) -> bool:
    """True when ``directory/name`` is short enough to be a unix socket path."""
    return len(str(directory / name)) <= MAX_UNIX_SOCKET_PATH


def service_user() -> RunAs:
    """The identity PostgreSQL runs as: ourselves, or ``nova-pg`` when we are root.

    Raises:
        errors.ConfigurationError: when the user cannot be created.
    """
    if os.geteuid() != 0:
        return RunAs()
    with _user_lock:
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            run(
                [
                    "useradd", "--system", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", SERVICE_USER,
                ],
                timeout=15,
                setting="NOVA_DATA_DIR",
                what=f"creating OS user {SERVICE_USER}",
            )  # fmt: skip
            entry = pwd.getpwnam(SERVICE_USER)
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid, name=SERVICE_USER)


def hand_over(path: Path, user: RunAs, *, recursive: bool = False) -> None:
    """Give ``path`` and its direct children to ``user``; make its ancestors traversable.

    ``recursive`` walks the whole tree: needed once before ``initdb``, far too slow for a
    grown PGDATA on every start. Only execute (search) permission is added to ancestors,
    never read, so directory listings stay private; that is the least PostgreSQL needs.
    """
    if user.uid is None or user.gid is None:
        return
    if recursive:
        for root, dirs, files in os.walk(path):
            os.chown(root, user.uid, user.gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), user.uid, user.gid)
    else:
        os.chown(path, user.uid, user.gid)
        if path.is_dir():
            for child in path.iterdir():
                os.chown(child, user.uid, user.gid, follow_symlinks=False)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def run(
    args: Sequence[str],
    *,
    timeout: float,
    setting: str,
    what: str,
    user: RunAs | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a command to completion within ``timeout`` and return its stdout.

    Children start in a new session so a Ctrl-C in the terminal reaches only Nova, which then
    stops them in order instead of racing them.

    Raises:
        errors.ConfigurationError: naming ``setting`` when the command fails or times out.
    """
    user = user or RunAs()
    try:
        done = subprocess.run(  # noqa: S603  # arguments are built by us, never from input
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=user.uid,
            group=user.gid,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise errors.ConfigurationError(
            setting=setting, reason=f"{what} did not finish within {timeout:.0f}s"
        ) from exc
    except OSError as exc:
        raise errors.ConfigurationError(setting=setting, reason=f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        detail = first_error(done.stderr) or last_line(done.stdout) or f"exit {done.returncode}"
        raise errors.ConfigurationError(setting=setting, reason=f"{what} failed: {detail}")
    return done.stdout


def first_error(text: str) -> str:
    """The first line mentioning an error (the cause; later lines are clean-up), else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line
    return lines[-1] if lines else ""


def last_line(text: str) -> str:
    """The last non-empty line of ``text``, stripped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def log_tail(path: Path) -> str:
    """The last meaningful line of a log file, for error messages."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            return last_line(handle.read().decode(errors="replace"))
    except OSError:
        return ""


def terminate(process: psutil.Process, *, timeout: float) -> None:
    """SIGTERM ``process`` and its children, SIGKILL whatever outlives ``timeout``."""
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    kill_all(wait_gone(family, timeout=timeout))


def kill_all(processes: Sequence[psutil.Process], *, timeout: float = 3.0) -> None:
    """SIGKILL ``processes`` and wait (bounded) for them to go."""
    for member in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    wait_gone(processes, timeout=timeout)


def is_gone(process: psutil.Process) -> bool:
    """True when ``process`` has exited.

    A zombie counts as gone: daemons re-parented to init stay zombies until init gets round
    to reaping them, and they hold no port, file or lock any more.
    """
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(processes: Sequence[psutil.Process], *, timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` for ``processes`` to exit; return those still alive."""
    wait_until(lambda: all(is_gone(p) for p in processes), timeout=timeout, interval=0.02)
    return [p for p in processes if not is_gone(p)]


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
