"""PostgreSQL pools, intent routing and schema migrations."""

from nova.platform.db.pool import Connection, Database, PoolPolicy

__all__ = ["Connection", "Database", "PoolPolicy"]
