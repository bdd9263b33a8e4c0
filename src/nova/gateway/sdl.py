"""The committed SDL (``schema.graphql``) and how to regenerate it.

``tests/integration/gateway/test_sdl.py`` fails when the file drifts from the code; run
``python -m nova.gateway.sdl`` to rewrite it, and review the diff like any API change.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nova.gateway.schema import build_schema

__all__ = ["SDL_PATH", "render"]

#: Where the SDL is committed, relative to the repository root.
SDL_PATH = Path("schema.graphql")


def render() -> str:
    """The SDL of the public schema as served in development (introspection on)."""
    return build_schema(production=False).schema.as_str() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the SDL to ``argv[0]`` (default :data:`SDL_PATH`)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SDL_PATH
    target.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
