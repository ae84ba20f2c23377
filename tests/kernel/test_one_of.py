"""`one_of` finds the rows whose column is one of the values, none for no values, on both
backends; on PostgreSQL the statement is the same text for any number of values (one
prepared statement), where an IN list is another statement for each count."""

import uuid
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.kernel.database import open_module_database
from app.kernel.one_of import one_of
from app.kernel.settings import Settings
from app.modules.memory.models import MemoryEntryRow
from tests.memory.entry_rows import entry_row


async def test_the_rows_whose_column_is_one_of_the_values(settings: Settings) -> None:
    database = open_module_database("memory", settings)
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(30)]
    try:
        async with database.transaction() as tx:
            await tx.execute(
                insert(MemoryEntryRow),
                [entry_row(i, "ada", np.ones(4, dtype=np.float32), "none", now) for i in ids],
            )
        for wanted in ([], ids[:1], ids[3:20], [*ids[:2], uuid.uuid4()]):
            async with database.read() as tx:
                found = await tx.scalars(
                    select(MemoryEntryRow.id).where(
                        one_of(MemoryEntryRow.id, wanted, database.dialect)
                    )
                )
                assert set(found) == set(wanted) & set(ids)
    finally:
        await database.dispose()


def test_on_postgresql_one_statement_whatever_the_count() -> None:
    dialect = create_async_engine("postgresql+asyncpg://nobody@localhost/none").dialect

    def sql(count: int) -> str:
        values = [uuid.uuid4() for _ in range(count)]
        statement = select(MemoryEntryRow.id).where(one_of(MemoryEntryRow.id, values, "postgresql"))
        compiled = statement.compile(dialect=dialect)
        return str(compiled)

    assert sql(1) == sql(70) == sql(100)
    assert "= ANY (" in sql(5)
