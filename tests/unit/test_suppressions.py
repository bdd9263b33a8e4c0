import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_suppressions.py"


def run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )


def test_catches_planted_blanket_suppressions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("# ruff: noqa\nimport os  # noqa\nx: int = 'a'  # type: ignore\ny = 1  # NOQA\n")
    result = run(bad)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith(str(bad))]
    assert len(lines) == 4
    assert ":1: file-level" in lines[0]


def test_accepts_suppressions_with_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "import os  # noqa: F401  # re-exported\n"
        "x: int = 'a'  # type: ignore[assignment]  # demo\n"
        "# ruff: noqa: E501\n"
        "s = '# noqa'\n"
    )
    result = run(good)
    assert result.returncode == 0, result.stdout


def test_repository_is_clean() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=root, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
