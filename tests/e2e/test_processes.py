"""`nova up --processes` as a real process tree: one request's correlation id crosses into
the users service's process, and SIGTERM stops every child and engine."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest

from tests.e2e.test_cli import _engine_processes, _env, _free_port, _gone, data_dir

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["data_dir"]  # the fixture, re-exported so pytest collects it here

pytestmark = pytest.mark.e2e

REQUEST_ID = "e2e-processes-0123456789abcdef"
REGISTER = (
    'mutation { register(username: "procs", email: "procs@example.org",'
    ' password: "correct horse battery") { user { id } errors { code } } }'
)


def _wait_ready(process: subprocess.Popen[bytes], base: str, log: Path, within: float) -> None:
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        if process.poll() is not None:
            pytest.fail(f"nova up --processes exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"nova up --processes not ready within {within}s:\n{log.read_text()}")


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            lines.append(parsed)
    return lines


def test_correlation_id_crosses_into_the_users_process(data_dir: Path, tmp_path: Path) -> None:
    port = _free_port()
    rpc = {
        f"NOVA_RPC_{name}_ADDRESSES": f"127.0.0.1:{_free_port()}"
        for name in ("USERS", "CONTENT", "FEED")
    }
    env = _env(data_dir, port, NOVA_LOG_FORMAT="json", **rpc)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "nova-up-processes.log"
    # The service children inherit the parent's stdout/stderr: one file holds every process.
    with log.open("w") as sink:
        parent = subprocess.Popen(
            [sys.executable, "-m", "nova", "up", "--processes"],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    children: list[psutil.Process] = []
    served: list[str] = []
    try:
        _wait_ready(parent, base, log, within=60.0)
        children = psutil.Process(parent.pid).children(recursive=True)
        served = sorted(c.cmdline()[-1] for c in children if "serve" in c.cmdline())
        engines = _engine_processes(data_dir)
        response = httpx.post(
            f"{base}/graphql",
            json={"query": REGISTER},
            headers={"X-Request-Id": REQUEST_ID},
            timeout=10,
        )
        time.sleep(0.5)  # let the children flush their lines of the request
    finally:
        if parent.poll() is None:
            parent.send_signal(signal.SIGTERM)
        try:
            code = parent.wait(timeout=20)
        except subprocess.TimeoutExpired:
            parent.kill()
            parent.wait(timeout=10)
            code = -1
        for child in children:  # never leave a service behind, even on failure
            try:
                child.kill()
            except psutil.NoSuchProcess:
                continue
    output = log.read_text()

    assert response.status_code == 200, response.text
    assert response.json()["data"]["register"]["errors"] == [], response.text
    assert response.headers["x-request-id"] == REQUEST_ID
    assert served == ["content", "feed", "users"], served
    carried = [
        line
        for line in _json_lines(output)
        if line.get("correlation_id") == REQUEST_ID and line.get("service.name") == "users"
    ]
    assert carried, f"no users-service line carries {REQUEST_ID}:\n{output}"
    assert code == 0, output
    assert _gone(children), "no service process may outlive nova up --processes"
    assert _gone(engines), "no engine process may outlive nova up --processes"
