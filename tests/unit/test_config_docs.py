from pathlib import Path

from nova.platform.config import Settings, configuration_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_settings() -> None:
    assert configuration_table() in README.read_text(encoding="utf-8"), (
        "README's configuration table is stale: run `make docs`"
    )


def test_every_setting_is_documented_where_declared() -> None:
    table = configuration_table()
    for name in Settings.model_fields:
        row = next(line for line in table.splitlines() if f"`NOVA_{name.upper()}`" in line)
        assert not row.endswith("|  |"), f"{name} has no #: comment"
