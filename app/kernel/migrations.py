"""Run one module's own Alembic history against that module's own database."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from .columns import UTCDateTime
from .database import ModuleDatabase, open_module_database
from .module import Module
from .settings import Settings

ENVIRONMENT = Path(__file__).parent / "alembic_env"
# A migration or a seed may rewrite a large table or build an index over it, which takes
# minutes: a request's statement deadline (DB_STATEMENT_TIMEOUT_MS) does not apply.
MIGRATION_STATEMENT_TIMEOUT_S = 24 * 3600.0


def alembic_config(module: Module, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENVIRONMENT))
    config.set_main_option("version_locations", str(module.migrations))
    config.set_main_option("path_separator", "os")
    config.attributes.update(
        connection=connection,
        metadata=module.metadata,
        version_table=module.version_table,
        unmodelled=tuple(module.unmodelled),
    )
    return config


def configure_migration_context() -> None:
    """Called from env.py: bind Alembic's context to the module the runner named."""
    from alembic import context  # a proxy that exists only while env.py runs

    attributes = context.config.attributes
    context.configure(
        connection=attributes["connection"],
        target_metadata=attributes["metadata"],
        version_table=attributes["version_table"],
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        render_item=_render_item,
        include_object=_modelled(attributes.get("unmodelled", ())),
    )


def _modelled(unmodelled: tuple[str, ...]) -> Any:
    """Autogenerate must not drop what migrations keep outside the models (FTS tables)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (reflected and compare_to is None and (name or "").startswith(unmodelled))

    return include


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations store UTCDateTime as what it is underneath, so they need no app import.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


async def upgrade(module: Module, database: ModuleDatabase, revision: str = "head") -> None:
    database.claim(module.name)
    async with database.engine.connect() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(module, sync), revision))
        await conn.commit()


async def upgrade_modules(modules: Iterable[Module], settings: Settings) -> dict[str, str | None]:
    """Bring each module's own database to its head and write the data it ships;
    return where each one stands."""
    revisions: dict[str, str | None] = {}
    settings = replace(settings, db_statement_timeout_s=MIGRATION_STATEMENT_TIMEOUT_S)
    for module in modules:
        database = open_module_database(module.name, settings)
        try:
            await upgrade(module, database)
            await seed(module, database, settings)
            revisions[module.name] = await current_revision(module, database)
        finally:
            await database.dispose()
    return revisions


async def seed(module: Module, database: ModuleDatabase, settings: Settings) -> None:
    if module.seed is not None:
        await module.seed(database.claim(module.name), settings)


async def current_revision(module: Module, database: ModuleDatabase) -> str | None:
    async with database.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(
                sync, opts={"version_table": module.version_table}
            ).get_current_revision()
        )


def head_revision(module: Module) -> str | None:
    return ScriptDirectory.from_config(alembic_config(module)).get_current_head()


async def schema_differences(module: Module, database: ModuleDatabase) -> list[Any]:
    """What autogenerate would change: empty when models and migrations agree."""
    async with database.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(
                    sync,
                    opts={
                        "version_table": module.version_table,
                        "compare_type": True,
                        "include_name": _not_version_table(module),
                    },
                ),
                module.metadata,
            )
        )


def _not_version_table(module: Module) -> Any:
    def include_name(name: str | None, type_: str, _: Any) -> bool:
        if name is not None and module.owns_unmodelled(name):
            return False
        return not (type_ == "table" and name == module.version_table)

    return include_name


async def create_revision(module: Module, database: ModuleDatabase, message: str) -> None:
    """Autogenerate the next revision of this module from its models."""
    async with database.engine.connect() as conn:
        await conn.run_sync(
            lambda sync: command.revision(
                alembic_config(module, sync),
                message=message,
                autogenerate=True,
                version_path=str(module.migrations),
            )
        )


class MigrationRefused(RuntimeError):
    """A migration cannot run on this database; the message says what to do about it."""


def require_pgvector(module: str) -> None:
    """Called by a migration: on PostgreSQL, refuse unless pgvector is in the database."""
    from alembic import op  # a proxy that exists only while a migration runs

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if not bind.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")):
        raise MigrationRefused(
            f"the {module} module needs the pgvector extension in its database: install "
            "pgvector on this PostgreSQL server, then run `bulkhead db provision` (it creates "
            "the extension as the admin) and `bulkhead db upgrade` again"
        )
