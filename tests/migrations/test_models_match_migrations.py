"""Each module's own Alembic history builds exactly the tables its models declare."""

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, text

from app.kernel import migrations
from app.kernel.database import open_module_database
from app.kernel.module import Module
from app.kernel.settings import Settings
from app.main import REGISTRY


@pytest.mark.parametrize("name", sorted(REGISTRY.names))
async def test_autogenerate_finds_no_difference(settings: Settings, name: str) -> None:
    module = REGISTRY[name]
    database = open_module_database(name, settings)
    try:
        assert await migrations.schema_differences(module, database) == []
    finally:
        await database.dispose()


async def test_a_model_change_without_a_migration_is_found(settings: Settings) -> None:
    """The twin: the comparison above can fail."""
    real = REGISTRY["billing"]
    drifted = MetaData()
    for table in real.metadata.tables.values():
        table.to_metadata(drifted)
    Table("invoices", drifted, Column("id", Integer, primary_key=True))
    module = Module(
        name="billing",
        metadata=drifted,
        contract=real.contract,
        service=real.service,
        routes=[],
        migrations=real.migrations,
    )
    database = open_module_database("billing", settings)
    try:
        differences = await migrations.schema_differences(module, database)
    finally:
        await database.dispose()
    assert [d[0] for d in differences] == ["add_table"]


async def test_each_module_records_its_revision_in_its_own_version_table(
    settings: Settings,
) -> None:
    for module in REGISTRY:
        database = open_module_database(module.name, settings)
        try:
            assert await migrations.current_revision(module, database) is not None
            async with database.read() as tx:
                own = await tx.execute(text(f"SELECT version_num FROM {module.version_table}"))
                assert len(own.all()) == 1
        finally:
            await database.dispose()


async def test_upgrade_twice_is_harmless(sqlite_settings: Settings) -> None:
    for module in REGISTRY:
        database = open_module_database(module.name, sqlite_settings)
        try:
            await migrations.upgrade(module, database)
            first = await migrations.current_revision(module, database)
            await migrations.upgrade(module, database)
            assert await migrations.current_revision(module, database) == first
        finally:
            await database.dispose()
