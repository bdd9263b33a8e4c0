"""ClickHouse access: chdb in-process (``chdb:///path``) or a server (clickhouse-connect).

Both speak the same SQL text; inserts are ``INSERT … FORMAT JSONEachRow`` with the rows inline.
Every call runs in a worker thread, never on the event loop (DESIGN.md invariant 11).
A process holds one chdb session per data path (:mod:`nova.platform.analytics.shared`).
"""

from nova.platform.analytics.client import (
    ChdbClickHouse,
    ClickHouse,
    ServerClickHouse,
    UnavailableClickHouse,
    connect,
)
from nova.platform.analytics.shared import open_client

__all__ = [
    "ChdbClickHouse",
    "ClickHouse",
    "ServerClickHouse",
    "UnavailableClickHouse",
    "connect",
    "open_client",
]
