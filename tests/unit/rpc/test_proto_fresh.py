"""The generated protobuf code matches proto/: regenerate and compare byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "nova" / "pb").iterdir()}
    committed = {
        p.name: p.read_bytes()
        for p in (ROOT / "src" / "nova" / "pb").iterdir()
        if p.name.endswith(("_pb2.py", "_pb2.pyi"))
    }
    assert sorted(fresh) == sorted(committed), "run scripts/gen_proto.py"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"stale generated files {stale}: run .venv/bin/python scripts/gen_proto.py"
