"""Redis access: fail-fast clients and caches that cannot serve stale data after a write."""

from nova.platform.cache.client import REDIS_ERRORS, connect
from nova.platform.cache.versioned import Versioned, VersionedCache

__all__ = ["REDIS_ERRORS", "Versioned", "VersionedCache", "connect"]
