"""The gateway integration tests, collected again here to run over both wirings.

The ``gateway`` fixture of this directory is parametrized over ``local`` and ``grpc``; the
test functions are the gateway suite's own, unchanged, so both wirings are held to the same
assertions (errors and their codes, Cache-Control, idempotency, DataLoader query counts).
"""

from __future__ import annotations

import pytest

from tests.integration.gateway.test_abuse import *  # noqa: F403  # re-collect every test
from tests.integration.gateway.test_auth import *  # noqa: F403  # re-collect every test
from tests.integration.gateway.test_caching import *  # noqa: F403  # re-collect every test
from tests.integration.gateway.test_degraded import *  # noqa: F403  # re-collect every test
from tests.integration.gateway.test_mutations import *  # noqa: F403  # re-collect every test
from tests.integration.gateway.test_query_counts import *  # noqa: F403  # re-collect every test

pytestmark = pytest.mark.integration
