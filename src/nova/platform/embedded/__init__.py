"""Embedded engines for ``nova up``: PostgreSQL, Redis and ClickHouse from PyPI wheels.

Each engine keeps its data under ``<data_dir>/<engine>`` and is driven directly (no daemon
helpers from the wheels), so every start and stop is bounded and leaves no orphan process.

Example:
    >>> from nova.platform import embedded
    >>> with embedded.Engines(settings) as engines:  # doctest: +SKIP
    ...     endpoints = engines.start()  # only engines whose NOVA_*_URL is unset
    ...     endpoints.database_url
    'postgresql://postgres@127.0.0.1:54012/nova'

Nothing here starts or imports an engine at import time.
"""

from nova.platform.embedded._process import free_port
from nova.platform.embedded.clickhouse import EmbeddedClickHouse
from nova.platform.embedded.engines import (
    ENGINE_NAMES,
    ENGINE_SETTINGS,
    EngineEndpoints,
    Engines,
)
from nova.platform.embedded.postgres import EmbeddedPostgres
from nova.platform.embedded.redis import EmbeddedRedis

__all__ = [
    "ENGINE_NAMES",
    "ENGINE_SETTINGS",
    "EmbeddedClickHouse",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EngineEndpoints",
    "Engines",
    "free_port",
]
