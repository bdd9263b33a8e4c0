import asyncio
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from nova.platform.cache import Versioned, VersionedCache

pytestmark = pytest.mark.integration


def _ident(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]


async def test_fill_then_hit(redis_client: Redis, key_prefix: str) -> None:
    cache = VersionedCache(redis_client, prefix=key_prefix)
    loads = 0

    async def load() -> Versioned[list[str]]:
        nonlocal loads
        loads += 1
        return Versioned(1, ["a"])

    assert await cache.get_or_load("k", load, decode=_ident, encode=list) == ["a"]
    assert await cache.get_or_load("k", load, decode=_ident, encode=list) == ["a"]
    assert loads == 1
    assert (cache.hits, cache.misses) == (1, 1)


async def test_slow_fill_after_fence_cannot_resurrect_old_value(
    redis_client: Redis, key_prefix: str
) -> None:
    """Reader loads v1, writer fences v2 meanwhile; the late v1 fill must be rejected."""
    cache = VersionedCache(redis_client, prefix=key_prefix)
    source = SimpleNamespace(version=1, value=["old"])
    reader_loaded = asyncio.Event()
    writer_done = asyncio.Event()

    async def slow_load() -> Versioned[list[str]]:
        snapshot = Versioned(source.version, list(source.value))
        reader_loaded.set()
        await writer_done.wait()
        return snapshot

    async def writer() -> None:
        await reader_loaded.wait()
        source.version, source.value = 2, ["new"]
        await cache.fence("k", 2)
        writer_done.set()

    stale, _ = await asyncio.gather(
        cache.get_or_load("k", slow_load, decode=_ident, encode=list), writer()
    )
    assert stale == ["old"]  # that reader began before the write: its own answer may be old

    async def load() -> Versioned[list[str]]:
        return Versioned(source.version, list(source.value))

    assert await cache.get_or_load("k", load, decode=_ident, encode=list) == ["new"]
    assert await cache.get_or_load("k", load, decode=_ident, encode=list) == ["new"]
    assert cache.hits == 1


async def test_fence_never_lowers_version(redis_client: Redis, key_prefix: str) -> None:
    cache = VersionedCache(redis_client, prefix=key_prefix)
    await cache.fence("k", 5)
    await cache.fence("k", 3)

    async def load_v4() -> Versioned[list[str]]:
        return Versioned(4, ["v4"])

    await cache.get_or_load("k", load_v4, decode=_ident, encode=list)
    raw = await redis_client.get(key_prefix + "k")
    assert raw == b"5|"


async def test_redis_down_loads_from_source(key_prefix: str) -> None:
    from nova.platform import cache as cache_mod

    client = cache_mod.connect("redis://127.0.0.1:1/0", timeout=0.2)
    cache = VersionedCache(client, prefix=key_prefix)

    async def load() -> Versioned[list[str]]:
        return Versioned(1, ["x"])

    assert await cache.get_or_load("k", load, decode=_ident, encode=list) == ["x"]
    await cache.fence("k", 2)
    assert cache.errors == 2
    await client.aclose()
