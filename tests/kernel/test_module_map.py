"""The architecture page's module map is drawn from the registry and kept current."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from app.cli import main, module_map
from app.main import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_map_is_current() -> None:
    result = CliRunner().invoke(
        main, ["docs", "--check", "--file", str(ROOT / "docs/architecture.md")]
    )
    assert result.exit_code == 0, result.output


def test_the_map_has_every_module_its_database_and_its_calls() -> None:
    drawn = module_map()
    for module in REGISTRY:
        assert f'{module.name}["{module.name}"]' in drawn
        assert f"{module.name} --- {module.name}_db" in drawn
        for dependency in module.depends_on:
            assert f"{module.name} -->|contract| {dependency}" in drawn
    assert "sagas --- sagas_db" in drawn


def test_a_stale_map_fails_the_check_and_docs_redraws_it(tmp_path: Path) -> None:
    page = tmp_path / "architecture.md"
    stale = (
        (ROOT / "docs/architecture.md")
        .read_text()
        .replace("memory -->|contract|", "memory -->|old|")
    )
    page.write_text(stale)
    checked = CliRunner().invoke(main, ["docs", "--check", "--file", str(page)])
    assert checked.exit_code == 1 and "stale" in checked.output
    assert CliRunner().invoke(main, ["docs", "--file", str(page)]).exit_code == 0
    assert CliRunner().invoke(main, ["docs", "--check", "--file", str(page)]).exit_code == 0
