"""The committed ``schema.graphql`` is exactly what the code serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from nova.gateway.schema import build_schema
from nova.gateway.sdl import render

pytestmark = pytest.mark.integration

_ROOT = Path(__file__).resolve().parents[3]


def test_committed_sdl_matches_the_code() -> None:
    committed = (_ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed == render(), "schema.graphql is stale: run `python -m nova.gateway.sdl`"


def test_production_schema_hides_introspection_and_suggestions() -> None:
    production = build_schema(production=True).schema
    introspection = production.execute_sync("{ __schema { types { name } } }")
    assert introspection.errors is not None
    assert len(introspection.errors) == 2  # one per introspection field selected
    assert "introspection has been disabled" in introspection.errors[0].message
    typo = production.execute_sync("{ viewr }")
    assert typo.errors is not None
    assert "Did you mean" not in typo.errors[0].message
    development = build_schema(production=False).schema
    assert development.execute_sync("{ __schema { queryType { name } } }").errors is None
    dev_typo = development.execute_sync("{ viewr }")
    assert dev_typo.errors is not None
    assert "Did you mean" in dev_typo.errors[0].message
