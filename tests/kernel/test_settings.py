"""Settings come from BULKHEAD_* variables; a wrong one fails at start, naming itself."""

import json
from pathlib import Path

import pytest

from app.kernel.settings import Settings, SettingsError
from app.main import REGISTRY, load_settings
from app.modules.memory.settings import MemorySettings
from app.modules.tools.settings import ToolsSettings


def test_defaults_give_each_module_its_own_sqlite_file(tmp_path: Path) -> None:
    settings = Settings.from_env({"BULKHEAD_DATA_DIR": str(tmp_path)})
    urls = {m: settings.database_url(m) for m in ("conversation", "billing")}
    assert urls["conversation"].endswith(f"{tmp_path}/conversation.sqlite3")
    assert urls["billing"].endswith(f"{tmp_path}/billing.sqlite3")
    assert settings.modules is None and settings.jwt_secret is None


def test_module_url_variable_overrides_the_default_and_is_normalised() -> None:
    settings = Settings.from_env(
        {"BULKHEAD_DATABASE_URL_BILLING": "postgresql://bill:pw@db:5432/billing"}
    )
    assert settings.database_url("billing") == "postgresql+asyncpg://bill:pw@db:5432/billing"


def test_urls_file_written_by_provision_is_read(tmp_path: Path) -> None:
    (tmp_path / "database-urls.json").write_text(
        json.dumps({"conversation": "postgresql://c:pw@db/c"})
    )
    settings = Settings.from_env({"BULKHEAD_DATA_DIR": str(tmp_path)})
    assert settings.database_url("conversation") == "postgresql+asyncpg://c:pw@db/c"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"BULKHEAD_JWT_SECRET": "short"}, "BULKHEAD_JWT_SECRET"),
        ({"BULKHEAD_REDIS_URL": "http://localhost"}, "BULKHEAD_REDIS_URL"),
        ({"BULKHEAD_DATABASE_URL_BILLING": "mysql://x/y"}, "BULKHEAD_DATABASE_URL_BILLING"),
        ({"BULKHEAD_DATABASE_URL_BILLING": "not a url"}, "BULKHEAD_DATABASE_URL_BILLING"),
        ({"BULKHEAD_DATABASE_URL_BILLING": "sqlite+aiosqlite://"}, "BULKHEAD_DATABASE_URL_BILLING"),
        ({"BULKHEAD_DB_POOL_SIZE": "lots"}, "BULKHEAD_DB_POOL_SIZE"),
        ({"BULKHEAD_DB_POOL_SIZE": "0"}, "BULKHEAD_DB_POOL_SIZE"),
        ({"BULKHEAD_LOG_LEVEL": "loud"}, "BULKHEAD_LOG_LEVEL"),
        ({"BULKHEAD_MODULES": "conversation;billing"}, "BULKHEAD_MODULES"),
        ({"BULKHEAD_DATABASE_URLS_FILE": "/nonexistent/urls.json"}, "BULKHEAD_DATABASE_URLS_FILE"),
        ({"BULKHEAD_TOOLS_ALLOWLIST": "math.*"}, "BULKHEAD_TOOLS_ALLOWLIST"),
        ({"BULKHEAD_TOOLS_ALLOWLIST": '["math.*"]'}, "BULKHEAD_TOOLS_ALLOWLIST"),
        ({"BULKHEAD_TOOLS_ALLOWLIST": '{"agent a": ["*"]}'}, "BULKHEAD_TOOLS_ALLOWLIST"),
        ({"BULKHEAD_TOOLS_ALLOWLIST": '{"agent-a": "math.*"}'}, "BULKHEAD_TOOLS_ALLOWLIST"),
        ({"BULKHEAD_TOOLS_RATE_LIMIT": "60"}, "BULKHEAD_TOOLS_RATE_LIMIT"),
        ({"BULKHEAD_TOOLS_RATE_LIMIT": "0/1m"}, "BULKHEAD_TOOLS_RATE_LIMIT"),
        ({"BULKHEAD_TOOLS_RATE_LIMIT": "10/0s"}, "BULKHEAD_TOOLS_RATE_LIMIT"),
        ({"BULKHEAD_TOOLS_MAX_CONCURRENT": "0"}, "BULKHEAD_TOOLS_MAX_CONCURRENT"),
        ({"BULKHEAD_SANDBOX_UID": "0"}, "BULKHEAD_SANDBOX_UID"),
        ({"BULKHEAD_MEMORY_WORKING_TTL": "an hour"}, "BULKHEAD_MEMORY_WORKING_TTL"),
        ({"BULKHEAD_MEMORY_HALF_LIFE": "0d"}, "BULKHEAD_MEMORY_HALF_LIFE"),
        ({"BULKHEAD_MEMORY_WORKING_MAX_ITEMS": "0"}, "BULKHEAD_MEMORY_WORKING_MAX_ITEMS"),
        ({"BULKHEAD_REDIS_KEY_PREFIX": "has space"}, "BULKHEAD_REDIS_KEY_PREFIX"),
    ],
)
def test_bad_value_fails_naming_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_tool_settings_parse_allow_list_and_rate_limit() -> None:
    default = Settings.from_env({}).of(ToolsSettings)
    assert default.allowlist == {"*": ("*",)} and default.rate_limit == (60, 60)
    settings = Settings.from_env(
        {
            "BULKHEAD_TOOLS_ALLOWLIST": '{"agent-a": ["math.*", "text.stats"]}',
            "BULKHEAD_TOOLS_RATE_LIMIT": "100/2h",
        }
    ).of(ToolsSettings)
    # Listing clients means the others get nothing unless "*" is listed too.
    assert settings.allowlist == {"*": (), "agent-a": ("math.*", "text.stats")}
    assert settings.rate_limit == (100, 7200)
    assert Settings.from_env({"BULKHEAD_TOOLS_RATE_LIMIT": "5/s"}).of(ToolsSettings).rate_limit == (
        5,
        1,
    )


def test_memory_durations_parse_with_units() -> None:
    settings = Settings.from_env(
        {"BULKHEAD_MEMORY_WORKING_TTL": "90s", "BULKHEAD_MEMORY_HALF_LIFE": "2w"}
    ).of(MemorySettings)
    assert (settings.working_ttl_s, settings.half_life_s) == (90, 14 * 86_400)


def test_unknown_module_names_fail_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="BULKHEAD_MODULES: unknown module"):
        Settings.from_env({"BULKHEAD_MODULES": "conversation,memroy"}).check_modules(REGISTRY.names)
    with pytest.raises(SettingsError, match="BULKHEAD_DATABASE_URL_BILING"):
        Settings.from_env({"BULKHEAD_DATABASE_URL_BILING": "postgresql://x@y/z"}).check_modules(
            REGISTRY.names
        )


def test_urls_file_that_is_not_json_fails_naming_the_variable(tmp_path: Path) -> None:
    broken = tmp_path / "urls.json"
    broken.write_text("{not json")
    with pytest.raises(SettingsError, match="BULKHEAD_DATABASE_URLS_FILE"):
        Settings.from_env({"BULKHEAD_DATABASE_URLS_FILE": str(broken)})


def test_modules_setting_selects_a_subset_in_dependency_order() -> None:
    settings = Settings.from_env({"BULKHEAD_MODULES": "billing"})
    assert [m.name for m in REGISTRY.select(settings.modules)] == ["billing"]
    assert {m.name for m in REGISTRY.select(None)} == {
        "conversation",
        "billing",
        "rag",
        "tools",
        "memory",
        "analytics",
    }
    # Conversation calls the tools contract: tools is built first.
    assert [m.name for m in REGISTRY.select(("conversation", "tools"))] == ["tools", "conversation"]


def test_modules_setting_without_a_dependency_fails_naming_it() -> None:
    settings = Settings.from_env({"BULKHEAD_MODULES": "conversation"})
    with pytest.raises(SettingsError, match="conversation calls tools"):
        REGISTRY.select(settings.modules)
