"""Rewrite the configuration table in README.md from the Settings class (``make docs``)."""

from __future__ import annotations

import re
from pathlib import Path

from nova.platform.config import configuration_table

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"(<!-- config-table:start -->\n)(?:.*?\n)?(<!-- config-table:end -->)", re.DOTALL
)


def main() -> None:
    """Replace the marked block; fail loudly if the markers are missing."""
    text = README.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        raise SystemExit("README.md lacks the config-table markers")
    README.write_text(
        BLOCK.sub(lambda m: m.group(1) + configuration_table() + "\n" + m.group(2), text),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
