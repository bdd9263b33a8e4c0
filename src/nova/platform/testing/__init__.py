"""Test harness: real engines for pytest, and helpers that tests of every package share.

The pytest plugin (:mod:`nova.platform.testing.plugin`) is registered through the ``pytest11``
entry point, so any test in the repository can ask for ``db``, ``redis_client`` or
``settings`` and get real PostgreSQL and Redis: the servers named by
``NOVA_TEST_DATABASE_URL`` / ``NOVA_TEST_REDIS_URL`` when set, else embedded instances started
once per test session.
"""

from nova.platform.testing.engines import TestEngines
from nova.platform.testing.faultproxy import Fault, FaultProxy
from nova.platform.testing.replica import ReplicaPair

__all__ = ["Fault", "FaultProxy", "ReplicaPair", "TestEngines"]
