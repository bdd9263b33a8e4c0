"""Redis access: fail-fast clients and caches that cannot serve stale data after a write."""

from nova.platform.cache.client import REDIS_ERRORS, connect, redis_breaker
from nova.platform.cache.guarded import RedisUnavailableError, redis_budget
from nova.platform.cache.versioned import Versioned, VersionedCache

__all__ = [
    "REDIS_ERRORS",
    "RedisUnavailableError",
    "Versioned",
    "VersionedCache",
    "connect",
    "redis_breaker",
    "redis_budget",
]
