"""Fail on blanket lint/type suppressions: every suppression must name its code.

Catches a file-level ``# ruff: noqa`` / ``# flake8: noqa``, a bare ``# noqa`` and a bare
``# type: ignore``. Usage: ``python scripts/check_suppressions.py [PATH ...]`` (default: the
repository's Python sources). Exits 1 and prints ``file:line: reason`` for each finding.
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

FILE_LEVEL = re.compile(r"#\s*(ruff|flake8)\s*:\s*noqa\b(?!\s*:)", re.IGNORECASE)
BARE_NOQA = re.compile(r"#\s*noqa\b(?!\s*:)", re.IGNORECASE)
BARE_TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?!\[)")
DEFAULT_ROOTS = ("src", "tests", "scripts", "migrations", "bench")


def findings(path: Path) -> list[str]:
    """Every blanket suppression in ``path``, as ``path:line: reason``."""
    out: list[str] = []
    text = path.read_text(encoding="utf-8")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return [f"{path}:1: cannot tokenize"]
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        line = tok.start[0]
        if FILE_LEVEL.search(tok.string):
            out.append(f"{path}:{line}: file-level noqa suppresses every rule")
        elif BARE_NOQA.search(tok.string):
            out.append(f"{path}:{line}: '# noqa' without a code")
        elif BARE_TYPE_IGNORE.search(tok.string):
            out.append(f"{path}:{line}: '# type: ignore' without an error code")
    return out


def main(argv: list[str]) -> int:
    """Scan the given paths (or the default roots) and report."""
    roots = [Path(a) for a in argv] or [Path(r) for r in DEFAULT_ROOTS if Path(r).exists()]
    files = sorted(
        {f for root in roots for f in ([root] if root.is_file() else root.rglob("*.py"))}
    )
    problems = [p for f in files for p in findings(f)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} blanket suppression(s): name the code and give a reason.")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
