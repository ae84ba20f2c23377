"""`bulkhead check`: passes on the real registry, and each rule is seen failing."""

import socket
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from click.testing import CliRunner
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, text

from app.cli import main
from app.kernel.boundary_check import (
    contract_problems,
    lint_contract_problems,
    metadata_problems,
    run_checks,
)
from app.kernel.database import ModuleDatabase, open_module_database
from app.kernel.registry import ModuleRegistry
from app.kernel.settings import Settings
from app.main import REGISTRY
from contracts.record import Contracts
from tests.conftest import upgrade_all

ROOT = Path(__file__).resolve().parents[2]
LINT_CONFIG = ROOT / "importlinter.ini"


async def test_check_passes_on_the_real_modules(sqlite_settings: Settings) -> None:
    await upgrade_all(sqlite_settings)
    report = await run_checks(REGISTRY, sqlite_settings, LINT_CONFIG)
    assert report.ok, report.render()


def test_cli_check_exits_zero_with_a_readable_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["check", "--lint-config", str(LINT_CONFIG)], env={"BULKHEAD_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert "boundaries hold" in result.output


def test_module_missing_from_the_independence_contract_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "importlinter.ini"
    config.write_text(LINT_CONFIG.read_text().replace("    app.modules.billing\n", "", 1))
    problems = lint_contract_problems(list(REGISTRY), config)
    assert problems == ["app.modules.billing is registered but not in the independence contract"]


def test_foreign_key_to_another_modules_table_is_reported() -> None:
    leaky = MetaData()
    Table("sessions", leaky, Column("id", Integer, primary_key=True))
    Table(
        "invoices",
        leaky,
        Column("id", Integer, primary_key=True),
        Column("usage_id", ForeignKey("usage.id")),
    )
    module = replace(REGISTRY["billing"], metadata=leaky)
    problems = metadata_problems([REGISTRY["conversation"], module])
    assert any("billing.invoices has a foreign key to usage" in p for p in problems)


def test_shared_metadata_is_reported() -> None:
    shared = replace(REGISTRY["billing"], metadata=REGISTRY["conversation"].metadata)
    assert any(
        "share one MetaData" in p for p in metadata_problems([REGISTRY["conversation"], shared])
    )


class LeakyAPI(Protocol):
    def sync_call(self, *, user_id: str) -> str: ...

    async def returns_a_socket(self, *, user_id: str) -> socket.socket: ...

    async def positional(self, user_id: str) -> None: ...


LeakyAPI.__module__ = "contracts.leaky"


class LeakyService:
    async def sync_call(self, *, user_id: str) -> str:
        return user_id


def build_leaky(database: ModuleDatabase, settings: Settings, contracts: Contracts) -> LeakyService:
    return LeakyService()


def test_sync_unserialisable_or_unimplemented_contract_methods_are_reported() -> None:
    module = replace(REGISTRY["billing"], contract=LeakyAPI, service=build_leaky)
    problems = "\n".join(contract_problems([module]))
    assert "LeakyAPI.sync_call is not async" in problems
    assert "LeakyAPI.returns_a_socket: result type is not serialisable" in problems
    assert "LeakyAPI.positional: parameter user_id is not keyword-only" in problems
    assert "does not implement LeakyAPI.positional" in problems


async def test_a_foreign_table_in_a_modules_database_is_reported(sqlite_settings: Settings) -> None:
    await upgrade_all(sqlite_settings)
    database = open_module_database("billing", sqlite_settings)
    try:
        async with database.transaction() as tx:
            await tx.execute(text("CREATE TABLE sessions (id TEXT)"))
    finally:
        await database.dispose()
    report = await run_checks(ModuleRegistry(REGISTRY), sqlite_settings, LINT_CONFIG)
    assert not report.ok
    assert "billing's database holds table 'sessions'" in report.render()


def test_cli_check_exits_non_zero_on_a_problem(tmp_path: Path) -> None:
    config = tmp_path / "importlinter.ini"
    config.write_text(LINT_CONFIG.read_text().replace("    app.modules.billing\n", "", 1))
    result = CliRunner().invoke(
        main,
        ["check", "--lint-config", str(config)],
        env={"BULKHEAD_DATA_DIR": str(tmp_path / uuid.uuid4().hex)},
    )
    assert result.exit_code == 1
    assert "FAIL  lint contract" in result.output
