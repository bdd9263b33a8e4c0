"""The Nova under test: a URL given, or ``nova up`` launched as a subprocess on a free port.

A launched server gets the benchmark's configuration through ``NOVA_*`` variables (the rest of
the environment is inherited, so ``NOVA_DATABASE_URL`` / ``NOVA_REDIS_URL`` still choose
external engines):

==================================  ========================================================
variable                            why
==================================  ========================================================
``NOVA_PORT``                       a free loopback port
``NOVA_DATA_DIR``                   the seeded data (embedded engines)
``NOVA_FANOUT_FOLLOWER_THRESHOLD``  :func:`nova.bench.graph.bench_threshold` of the graph
``NOVA_IP_RATE_LIMIT_PER_MINUTE``   every request comes from 127.0.0.1: lift the per-IP limit
``NOVA_OPTIMIZATIONS``              ``off`` for ``--baseline``
``NOVA_RECS_PRECOMPUTE_SCHEDULE``   ``false`` for ``nova bench recs`` (the worker must not
                                    refill the lists the cold phase evicts)
==================================  ========================================================

The engines' URLs come from ``nova up``'s startup lines (``postgres  postgresql://...``,
``redis  redis://...``), or from ``NOVA_DATABASE_URL`` / ``NOVA_REDIS_URL`` when set (the
printed form of an external URL hides its password).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import TYPE_CHECKING

from nova.platform import embedded

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Target", "launch"]

_POSTGRES_LINE = re.compile(r"^postgres\s+(postgres(?:ql)?://\S+)", re.MULTILINE)
_REDIS_LINE = re.compile(r"^redis\s+((?:rediss?|unix)://\S+)", re.MULTILINE)


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """Where the load goes.

    Attributes:
        host: Address of the HTTP server.
        port: Its port.
        pid: The server's process id (for CPU), or None when unknown.
        database_url: The database it uses (for connection counts), or None.
        redis_url: The Redis it uses (``nova bench recs`` evicts lists there), or None.
    """

    host: str
    port: int
    pid: int | None
    database_url: str | None
    redis_url: str | None = None


def _ready(port: int) -> bool:
    try:
        ready = f"http://127.0.0.1:{port}/readyz"
        with urllib.request.urlopen(ready, timeout=1) as response:  # loopback
            return bool(response.status == 200)
    except OSError:
        return False


def _engine_url(startup: str, line: re.Pattern[str], configured: str | None) -> str | None:
    if configured:
        return configured
    found = line.search(startup)
    return found.group(1) if found else None


@contextlib.contextmanager
def launch(
    *, data_dir: Path, env: dict[str, str], startup_timeout: float = 90.0
) -> Iterator[Target]:
    """Run ``nova up`` until the block exits (SIGTERM, then SIGKILL after 15 s).

    Args:
        data_dir: ``NOVA_DATA_DIR`` of the server.
        env: Extra ``NOVA_*`` settings.
        startup_timeout: Seconds to wait for ``/readyz``.

    Raises:
        RuntimeError: the server exited or did not become ready in time (its output attached).
    """
    port = embedded.free_port()
    environ = {**os.environ, **env, "NOVA_PORT": str(port), "NOVA_DATA_DIR": str(data_dir)}
    environ.setdefault("NOVA_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(  # our own interpreter and module
            [sys.executable, "-m", "nova", "up"], env=environ, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + startup_timeout
            while not _ready(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"nova up did not become ready:\n{log.read()[-3000:]}")
                time.sleep(0.2)
            log.seek(0)
            startup = log.read()
            yield Target(
                "127.0.0.1",
                port,
                server.pid,
                database_url=_engine_url(startup, _POSTGRES_LINE, environ.get("NOVA_DATABASE_URL")),
                redis_url=_engine_url(startup, _REDIS_LINE, environ.get("NOVA_REDIS_URL")),
            )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
