"""Nova's single-process HTTP app on a free loopback port, and GraphQL helpers to drive it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from nova import server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from nova.platform.config import Settings

PASSWORD = "correct horse battery"


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """``server.build(settings)`` under uvicorn until the block exits; a client of it.

    uvicorn leaves logging alone (``log_config=None``): tests that capture lines see Nova's.
    """
    config = uvicorn.Config(
        server.build(settings),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        access_log=False,
    )
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    try:
        async with asyncio.timeout(30):
            while not uv.started:  # noqa: ASYNC110  # uvicorn exposes a flag, not an event
                await asyncio.sleep(0.01)
        port = uv.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        uv.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def gql(
    http: httpx.AsyncClient, query: str, token: str | None = None, **headers: str
) -> dict[str, Any]:
    """The ``data`` of a GraphQL request that must succeed (200, no ``errors``)."""
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = await http.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]  # JSON object from the server


async def sign_up(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """Register ``name`` and log in: ``(user id, access token)``."""
    data = await gql(
        http,
        f'mutation {{ register(username: "{name}", email: "{name}@example.org", '
        f'password: "{PASSWORD}") {{ user {{ id }} errors {{ code }} }} }}',
    )
    assert data["register"]["errors"] == []
    login = await gql(
        http,
        f'mutation {{ login(usernameOrEmail: "{name}", password: "{PASSWORD}") '
        "{ accessToken errors { code } } }",
    )
    return data["register"]["user"]["id"], login["login"]["accessToken"]
