"""Each package's public surface is explicit: ``__all__`` exists, is sorted and importable."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import nova

PACKAGES = sorted(
    name
    for _, name, is_package in pkgutil.walk_packages(nova.__path__, prefix="nova.")
    if is_package and name != "nova.platform"  # a namespace of subpackages, exports nothing
)


@pytest.mark.parametrize("name", PACKAGES)
def test_package_declares_an_importable_all(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == [], f"{name}.__all__ names what it does not define: {missing}"


def test_service_packages_expose_their_client() -> None:
    for service in ("users", "content", "feed"):
        module = importlib.import_module(f"nova.{service}")
        assert any(item.endswith("Client") for item in module.__all__), service
