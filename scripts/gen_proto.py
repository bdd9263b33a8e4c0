"""Regenerate the protobuf code in ``src/nova/pb`` from ``proto/`` (``make proto``).

One command, reproducible: the compiler and the typed-stub plugin come from the virtualenv
(``grpcio-tools`` bundles ``protoc``; ``mypy-protobuf`` provides ``protoc-gen-mypy``), so the
output depends only on the ``.proto`` files and those pinned versions. Only message modules
(``*_pb2.py`` + ``.pyi``) are generated: services are registered from tables in
``nova.<service>.api``, so no untyped ``*_pb2_grpc.py`` exists.

Usage:
    .venv/bin/python scripts/gen_proto.py            # rewrite src/nova/pb
    .venv/bin/python scripts/gen_proto.py --out DIR  # write DIR/nova/pb (the staleness test)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"
PACKAGE = Path("nova") / "pb"


def generate(out: Path) -> list[Path]:
    """Compile every ``proto/nova/pb/*.proto`` into ``out/nova/pb``; return the files written."""
    sources = sorted((PROTO / PACKAGE).glob("*.proto"))
    (out / PACKAGE).mkdir(parents=True, exist_ok=True)
    plugin = Path(sys.executable).parent / "protoc-gen-mypy"
    if not plugin.exists():
        found = shutil.which("protoc-gen-mypy")
        if found is None:
            raise SystemExit("protoc-gen-mypy not found: pip install mypy-protobuf")
        plugin = Path(found)
    include = resources.files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{PROTO}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={plugin}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        *(str(s.relative_to(PROTO)) for s in sources),
    ]
    # protoc resolves the relative source names against the -I roots.
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out / PACKAGE).iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi")))


def main() -> None:
    """Parse ``--out`` and generate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "src")
    written = generate(parser.parse_args().out)
    print(f"generated {len(written)} files")


if __name__ == "__main__":
    main()
