"""`nova up` / `nova doctor` as real processes, driven over HTTP and signals."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import psutil
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

#: Seconds a failing command has to exit (the operator-facing promise).
FAIL_FAST = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOVA_")}
    env.update(NOVA_DATA_DIR=str(data_dir), NOVA_PORT=str(port), NOVA_LOG_LEVEL="INFO")
    env.update(extra)
    return env


def _nova(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nova", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _engine_processes(data_dir: Path) -> list[psutil.Process]:
    """The postmaster and redis-server of ``data_dir`` (from their pid files), with children."""
    found: list[psutil.Process] = []
    for pid_file in (
        data_dir / "postgres" / "pgdata" / "postmaster.pid",
        data_dir / "redis" / "redis.pid",
    ):
        try:
            process = psutil.Process(int(pid_file.read_text().splitlines()[0]))
            found += [process, *process.children(recursive=True)]
        except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
            continue
    return found


def _gone(processes: list[psutil.Process]) -> bool:
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


class Nova:
    """One `nova up` child process."""

    def __init__(self, data_dir: Path, port: int, cwd: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = cwd / f"nova-up-{port}-{time.monotonic_ns()}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nova", "up"],
                env=_env(data_dir, port),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nova up exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"nova up not ready within {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Outside pytest's basetemp: as root PostgreSQL runs as nova-pg and must traverse every
    # parent, and pytest resets /tmp/pytest-of-root to 0700 whenever a session starts.
    root = Path(tempfile.mkdtemp(prefix="nova-e2e-"))
    path = root / "nova-data"
    yield path
    # Never leave servers behind, even when a test failed half-way.
    for process in _engine_processes(path):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    shutil.rmtree(root, ignore_errors=True)


def test_up_serves_stops_cleanly_and_restarts_with_its_data(data_dir: Path, tmp_path: Path) -> None:
    first = Nova(data_dir, _free_port(), tmp_path)
    try:
        first.wait_ready()
        graphql = httpx.post(f"{first.base}/graphql", json={"query": "{ __typename }"}, timeout=5)
        health = httpx.get(f"{first.base}/healthz", timeout=5)
        metrics = httpx.get(f"{first.base}/metrics", timeout=5)
        feed, tokens = _social_flow(first.base)
        port = int((data_dir / "postgres" / "port").read_text())
        _write_marker(f"postgresql://postgres@127.0.0.1:{port}/nova")
        engines = _engine_processes(data_dir)
    finally:
        code, elapsed = first.stop() if first.process.poll() is None else (-1, 0.0)
        first.kill()

    assert graphql.status_code == 200
    assert graphql.json() == {"data": {"__typename": "Query"}}
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "postgres": "ok",
        "redis": "ok",
        "clickhouse": "ok",
    }
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    # The whole product through the real process: the post reached the follower's timeline.
    assert [edge["node"]["body"] for edge in feed["edges"]] == ["hello from e2e"]
    assert feed["source"] == "timeline"
    assert code == 0, first.log.read_text()
    # A graceful stop logs no traceback (uvicorn's "Exception in 'lifespan' protocol" was one).
    assert "Traceback" not in first.log.read_text(), first.log.read_text()
    assert elapsed < 10
    assert len(engines) > 2
    assert _gone(engines), "no engine process may outlive nova up"

    second = Nova(data_dir, _free_port(), tmp_path)
    try:
        second.wait_ready()
        assert _read_marker(f"postgresql://postgres@127.0.0.1:{port}/nova") == "kept"
        # The profile counter follows the event log; it may still be draining after restart.
        count = None
        for _ in range(100):
            # Signed in: a private response, never served from the public response cache.
            count = _gql(second.base, '{ user(username: "ada") { postCount } }', tokens["bob"])[
                "user"
            ]
            if count["postCount"] == 1:
                break
            time.sleep(0.05)
        assert count == {"postCount": 1}
    finally:
        code, _ = second.stop()
        second.kill()
    assert code == 0
    assert "migrations: up to date" in second.log.read_text()


def _gql(base: str, query: str, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]  # a JSON object


def _social_flow(base: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Register two users, follow, publish, and return the follower's feed once fanned out."""
    tokens = {}
    for name in ("ada", "bob"):
        registered = _gql(
            base,
            f'mutation {{ register(username: "{name}", email: "{name}@example.org",'
            ' password: "correct horse battery") { user { id } errors { code } } }',
        )
        assert registered["register"]["errors"] == []
        tokens[name] = _gql(
            base,
            f'mutation {{ login(usernameOrEmail: "{name}", password: "correct horse battery")'
            " { accessToken } }",
        )["login"]["accessToken"]
    ada = _gql(base, '{ user(username: "ada") { id } }')["user"]["id"]
    _gql(base, f'mutation {{ follow(userId: "{ada}") {{ errors {{ code }} }} }}', tokens["bob"])
    _gql(base, "{ homeFeed(first: 5) { partial } }", tokens["bob"])  # builds bob's timeline
    _gql(base, 'mutation { createPost(body: "hello from e2e") { errors { code } } }', tokens["ada"])
    feed: dict[str, Any] = {}
    for _ in range(300):  # the event pipeline fans out in the background
        feed = _gql(
            base, "{ homeFeed(first: 5) { source edges { node { body } } } }", tokens["bob"]
        )["homeFeed"]
        if feed["edges"] and feed["source"] == "timeline":
            break
        time.sleep(0.05)
    return feed, tokens


def _write_marker(url: str) -> None:
    async def _write() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute("CREATE TABLE e2e_marker (value text)")
            await conn.execute("INSERT INTO e2e_marker VALUES ('kept')")
        finally:
            await conn.close()

    asyncio.run(_write())


def _read_marker(url: str) -> str:
    async def _read() -> str:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            value: str = await conn.fetchval("SELECT value FROM e2e_marker")
            return value
        finally:
            await conn.close()

    return asyncio.run(_read())


def test_doctor_reports_every_embedded_engine(data_dir: Path, tmp_path: Path) -> None:
    done = _nova("doctor", env=_env(data_dir, _free_port()), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "PostgreSQL 18" in done.stdout
    assert "Redis" in done.stdout
    assert "chdb" in done.stdout
    assert _gone(_engine_processes(data_dir))


def _assert_one_line_failure(
    done: subprocess.CompletedProcess[str], elapsed: float, setting: str
) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0
    assert elapsed < FAIL_FAST
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {setting}: ")
    assert "Traceback" not in done.stderr


def test_doctor_names_an_unreachable_database(data_dir: Path, tmp_path: Path) -> None:
    env = _env(data_dir, _free_port(), NOVA_DATABASE_URL="postgresql://postgres@127.0.0.1:1/x")

    started = time.monotonic()
    done = _nova("doctor", env=env, cwd=tmp_path)

    _assert_one_line_failure(done, time.monotonic() - started, "NOVA_DATABASE_URL")
    assert "connection refused at 127.0.0.1:1" in done.stderr


def test_up_names_a_malformed_url(data_dir: Path, tmp_path: Path) -> None:
    env = _env(data_dir, _free_port(), NOVA_REDIS_URL="redis://cache:notaport/0")

    started = time.monotonic()
    done = _nova("up", env=env, cwd=tmp_path)

    _assert_one_line_failure(done, time.monotonic() - started, "NOVA_REDIS_URL")


def test_up_refuses_a_taken_port(data_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        started = time.monotonic()
        done = _nova("up", env=_env(data_dir, port), cwd=tmp_path)

    _assert_one_line_failure(done, time.monotonic() - started, "NOVA_PORT")
    assert "already in use" in done.stderr.lower()
    assert not (data_dir / "postgres").exists(), "nothing starts when the port is taken"


def test_up_names_an_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    started = time.monotonic()
    done = _nova("up", env=_env(blocker / "nova", _free_port()), cwd=tmp_path)

    _assert_one_line_failure(done, time.monotonic() - started, "NOVA_DATA_DIR")
