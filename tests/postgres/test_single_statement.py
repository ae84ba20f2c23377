"""`ModuleDatabase.statement()` on PostgreSQL: one statement, its own transaction,
committed as it runs, with no BEGIN or COMMIT of its own."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.models import RecallLogRow

pytestmark = pytest.mark.postgres


def _log_row(row_id: uuid.UUID) -> dict[str, object]:
    return {
        "id": row_id,
        "user_id": "ada",
        "results": 1,
        "latency_ms": 1.0,
        "created_at": datetime.now(UTC),
    }


async def test_a_statement_is_committed_as_it_runs(postgres_settings: Settings) -> None:
    database = open_module_database("memory", postgres_settings)
    row_id = uuid.uuid4()
    try:
        async with database.statement() as tx:
            await tx.execute(insert(RecallLogRow).values(_log_row(row_id)))
            async with database.read() as other:  # another connection sees it already
                assert await other.scalar(select(func.count()).select_from(RecallLogRow)) == 1
        # A failing one leaves nothing, and raises what it met.
        with pytest.raises(IntegrityError):
            async with database.statement() as tx:
                await tx.execute(
                    insert(RecallLogRow).values([_log_row(uuid.uuid4()), _log_row(row_id)])
                )
        async with database.read() as tx:
            assert list(await tx.scalars(select(RecallLogRow.id))) == [row_id]
    finally:
        await database.dispose()
