"""Rolling restart (RELIABILITY row 15): two ``nova serve content`` processes restarted in
turn (SIGTERM, graceful stop, start again) under steady idempotent calls and keyed publishes:
0 failed idempotent calls, 0 duplicated posts, each restart within grace + 1 s."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from nova.content.api import SERVICE_NAME as CONTENT
from nova.content.grpc_client import GrpcContentClient
from nova.platform.rpc import ClientPolicy, RpcTarget, ServerPolicy, check_health, start_server
from nova.users.api import service_def as users_def
from tests.integration.feed.stack import uid

if TYPE_CHECKING:
    from nova.platform.config import Settings
    from tests.integration.feed.stack import Stack

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)
GRACE = 2.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _spawn(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "nova", "serve", "content", "--port", str(port)], env=env
    )


async def _healthy(port: int, within: float = 30.0) -> None:
    give_up = time.monotonic() + within
    while not await check_health(f"127.0.0.1:{port}", service=CONTENT):
        assert time.monotonic() < give_up, f"content on {port} did not start"
        await asyncio.sleep(0.1)


async def test_rolling_restart_of_two_content_replicas(
    stack: Stack, settings: Settings, database_url: str, key_prefix: str
) -> None:
    await _rolling_restart(stack, settings, database_url, key_prefix, rounds=1)


@pytest.mark.slow
async def test_ten_rolling_restarts(
    stack: Stack, settings: Settings, database_url: str, key_prefix: str
) -> None:
    await _rolling_restart(stack, settings, database_url, key_prefix, rounds=5)


async def _rolling_restart(
    stack: Stack, settings: Settings, database_url: str, key_prefix: str, *, rounds: int
) -> None:
    users = await start_server(
        [users_def(stack.users_service)], address="127.0.0.1:0", policy=ServerPolicy()
    )
    assert settings.redis_url is not None
    env = {
        **os.environ,
        "NOVA_ENVIRONMENT": "test",
        "NOVA_DATABASE_URL": database_url,
        "NOVA_REDIS_URL": settings.redis_url.get_secret_value(),
        "NOVA_REDIS_KEY_PREFIX": key_prefix,
        "NOVA_RPC_USERS_ADDRESSES": f"127.0.0.1:{users.port}",
        "NOVA_RPC_SHUTDOWN_GRACE": str(GRACE),
        "NOVA_LOG_LEVEL": "WARNING",
    }
    ports = [_free_port(), _free_port()]
    procs = [_spawn(port, env) for port in ports]
    target = RpcTarget(
        CONTENT,
        name="content",
        addresses=",".join(f"127.0.0.1:{p}" for p in ports),
        policy=ClientPolicy(caller="test", timeout=3.0),
    )
    content = GrpcContentClient(target)
    author, reader = await stack.user(), await stack.user()
    post = await stack.content.publish_post(author, body="steady")
    failures: list[BaseException] = []
    calls, keys = 0, 0
    running = True

    async def worker(n: int) -> None:
        nonlocal calls, keys
        step = 0
        while running:
            step += 1
            try:
                if step % 25 == 0 and keys < 95:
                    keys += 1
                    await content.publish_post(
                        author, body=f"k{n}-{step}", idempotency_key=f"k{n}-{step}"
                    )
                elif step % 2:
                    assert post.id in await content.get_posts(reader, [post.id])
                else:
                    await (content.like if step % 4 else content.unlike)(reader, post.id)
                calls += 1
            except Exception as exc:  # noqa: BLE001  # counted and asserted below
                failures.append(exc)

    restarts: list[float] = []
    try:
        for port in ports:
            await _healthy(port)
        load = asyncio.gather(*(worker(n) for n in range(4)))
        await asyncio.sleep(1.0)
        for i, port in [*enumerate(ports)] * rounds:
            started = time.monotonic()
            procs[i].send_signal(signal.SIGTERM)
            await asyncio.to_thread(procs[i].wait, GRACE + 5)
            restarts.append(time.monotonic() - started)
            procs[i] = _spawn(port, env)
            await _healthy(port)
            await asyncio.sleep(1.0)
        running = False
        await load
    finally:
        running = False
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait, GRACE + 5)
        await target.close()
        await users.stop(0)
    listed = await stack.content.list_user_posts(author, uid(author), limit=100)
    logger.warning(
        "rolling restart: %d calls, %d failed, %d retries (budget refused %d), restarts %s s, "
        "%d keyed publishes -> %d posts",
        calls, len(failures), target.retries, target.budget.refused,
        [round(r, 2) for r in restarts], keys, len(listed.items) - 1,
    )  # fmt: skip
    assert not failures, failures[:3]
    assert all(r <= GRACE + 1.0 for r in restarts), restarts
    assert len(listed.items) == keys + 1  # every keyed publish exactly once, plus the seed post
