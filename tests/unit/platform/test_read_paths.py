"""Request paths read through ``Database.run_read``, which retries a failed replica read.

``Database.read()`` hands out a held connection with no retry: a recovery conflict or a replica
dying mid-query inside it fails the request. Only a primary read (``read(primary=True)``: no
replica, nothing to retry) may use it outside the db package.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[3] / "src" / "nova"


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _replica_reads(tree: ast.AST) -> list[int]:
    """Lines calling ``<...db>.read(...)`` without ``primary=True``."""
    lines = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "read"
        ):
            continue
        receiver = _receiver_name(node.func.value)
        if receiver is None or not receiver.lstrip("_").endswith("db"):
            continue
        primary = any(
            k.arg == "primary" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
        if not primary:
            lines.append(node.lineno)
    return lines


def test_no_request_path_reads_a_replica_without_the_retry() -> None:
    offenders: list[str] = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path.is_relative_to(SOURCE / "platform" / "db"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders.extend(f"{path.relative_to(SOURCE)}:{line}" for line in _replica_reads(tree))
    assert offenders == [], "use db.run_read(fn, ...) instead of db.read(): " + ", ".join(offenders)


def test_the_check_finds_a_held_replica_read() -> None:
    sample = ast.parse(
        "async def f(self):\n"
        "    async with self._db.read() as conn:\n"
        "        pass\n"
        "    async with db.read(primary=True) as conn:\n"
        "        pass\n"
        "    await self._db.run_read(g)\n"
    )
    assert _replica_reads(sample) == [2]
