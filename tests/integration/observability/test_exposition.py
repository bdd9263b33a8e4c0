"""``/metrics`` of a gRPC-only process (``NOVA_METRICS_PORT``): served, refused, malformed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from nova.platform.observability import exposition, metrics

pytestmark = pytest.mark.integration


async def test_metrics_are_served_and_nothing_else() -> None:
    metrics.HTTP_REQUESTS.labels("GET", "/x", "200").inc()
    async with (
        exposition.listening("127.0.0.1", 0) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        scraped = await client.get("/metrics")
        other = await client.get("/graphql")
        posted = await client.post("/metrics", content=b"x")

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'nova_http_requests_total{method="GET",route="/x",status="200"}' in scraped.text
    assert other.status_code == 404
    assert posted.status_code == 404


async def test_a_malformed_or_oversized_request_is_refused_and_the_listener_lives_on() -> None:
    async with exposition.listening("127.0.0.1", 0) as port:
        for junk in (b"NONSENSE\r\n\r\n", b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 9000):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(junk + b"\r\n\r\n")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=5)
            writer.close()
            assert answer.startswith(b"HTTP/1.0 400"), answer[:60]
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
