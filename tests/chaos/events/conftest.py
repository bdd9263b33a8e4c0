"""Fixtures shared by the event-pipeline chaos tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from nova.platform.embedded import EmbeddedClickHouse

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def clickhouse(tmp_path: Path) -> Iterator[Any]:
    """A chdb session for this test only: a process has one, and other tests need it after."""
    engine = EmbeddedClickHouse(tmp_path / "ch")
    engine.start()
    try:
        yield engine.session
    finally:
        engine.stop()
