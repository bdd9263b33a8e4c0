"""Spans still batched when a process exits are exported, not lost (the provider flushes)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tests.e2e.otlp import Collector

pytestmark = pytest.mark.e2e

#: A process that records one span and exits at once, long before the 5 s batch delay.
EXITS_AT_ONCE = textwrap.dedent(
    """
    import sys
    from nova.platform.observability import tracing
    tracing.configure(service="exporter-test", otlp_endpoint=sys.argv[1])
    with tracing.tracer().start_as_current_span("last words"):
        pass
    """
)


def test_a_process_exiting_normally_flushes_its_batched_spans() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOVA_", "OTEL_"))}

    with Collector() as collector:
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", EXITS_AT_ONCE, collector.endpoint],
            env=env,
            check=True,
            timeout=30,
        )
        elapsed = time.monotonic() - started
        spans = collector.spans

    assert [(s.service, s.name) for s in spans] == [("exporter-test", "last words")], spans
    print(f"process with one batched span exited and exported in {elapsed:.2f}s")  # noqa: T201  # a measured figure for the log
