"""The README's settings table is the declarations' own, and `bulkhead settings` tells the
truth about values and where they came from."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from app.cli import main
from app.kernel.settings_report import markdown_table
from app.main import SETTINGS_GROUPS

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_table_is_generated_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- settings-table:start -->\n", "\n<!-- settings-table:end -->"
    in_readme = readme[readme.index(start) + len(start) : readme.index(end)]
    assert in_readme == markdown_table(SETTINGS_GROUPS), (
        "README.md's settings table is stale: paste `bulkhead settings --markdown` over it"
    )


def test_every_group_declares_each_variable_once() -> None:
    variables = markdown_table(SETTINGS_GROUPS).count("| `BULKHEAD_")
    names = {line.split("|")[1] for line in markdown_table(SETTINGS_GROUPS).splitlines()[2:]}
    assert len(names) == variables


def test_settings_show_values_sources_and_mask_secrets(tmp_path: Path) -> None:
    urls = tmp_path / "urls.json"
    urls.write_text(json.dumps({"billing": "postgresql://billing:hunter2@db/billing"}))
    env = {
        "BULKHEAD_DATA_DIR": str(tmp_path),
        "BULKHEAD_DATABASE_URLS_FILE": str(urls),
        "BULKHEAD_JWT_SECRET": "s" * 40,
        "BULKHEAD_TOOLS_RATE_LIMIT": "5/1h",
        "BULKHEAD_REDIS_URL": "redis://:hunter2@cache:6379/0",
    }
    result = CliRunner().invoke(main, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
    assert rows["BULKHEAD_TOOLS_RATE_LIMIT"] == ["environment", "5/1h"]
    assert rows["BULKHEAD_TOOLS_MAX_CONCURRENT"] == ["default", "8"]
    assert rows["BULKHEAD_SAGA_LEASE"] == ["default", "15s"]
    assert rows["BULKHEAD_DATABASE_URL_BILLING"] == [
        "file",
        "postgresql+asyncpg://billing:***@db/billing",
    ]
    assert rows["BULKHEAD_DATABASE_URL_RAG"][0] == "default"
    assert rows["BULKHEAD_JWT_SECRET"] == ["environment", "***"]
    assert "hunter2" not in result.output and "s" * 40 not in result.output


def test_a_bad_module_setting_fails_the_command_naming_it(tmp_path: Path) -> None:
    env = {"BULKHEAD_DATA_DIR": str(tmp_path), "BULKHEAD_MEMORY_HALF_LIFE": "soon"}
    result = CliRunner().invoke(main, ["settings"], env=env)
    assert result.exit_code == 1
    assert "BULKHEAD_MEMORY_HALF_LIFE" in result.output
