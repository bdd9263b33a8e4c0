"""PostgreSQL pools, intent routing over replicas, read-your-writes and schema migrations."""

from nova.platform.db import consistency
from nova.platform.db.pool import Connection, Database, PoolPolicy, PoolStats
from nova.platform.db.replicas import Replica, ReplicaPolicy

__all__ = [
    "Connection",
    "Database",
    "PoolPolicy",
    "PoolStats",
    "Replica",
    "ReplicaPolicy",
    "consistency",
]
