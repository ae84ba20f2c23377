"""A recall's bookkeeping: the touch of the entries it returns, and its log row.

The entries count as used now (their access count grows, their recency restarts), and
the touch returns them whole: one deleted since the recall read it is neither touched
nor returned.

On PostgreSQL the touch, the log row and the setting that lets their commit skip the
wait for the disk are one statement, committed as it runs: no BEGIN, setting, insert or
COMMIT round trips of their own (3-4 ms at p50, 100k memories). Bookkeeping, not
memories: a crash may lose the last moments of touches and log rows, never anything
else (the commit: 1.6-4 -> 0.4 ms at p50). The log row is selected from the setting,
which so runs once. SQLite writes both in a transaction, which takes the write lock
first.

The statements are built once, with parameters: built and keyed for SQLAlchemy's cache
by each recall, they took about 1 ms of its CPU.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Update, bindparam, func, insert, select, update

from app.kernel.database import ModuleDatabase
from app.kernel.one_of import one_of_parameter

from .entries import ENTRY_COLUMNS
from .models import MemoryEntryRow, RecallLogRow

LOG_COLUMNS = ("id", "user_id", "results", "latency_ms", "created_at")


def _touch(which: ColumnElement[bool]) -> Update:
    return (
        update(MemoryEntryRow)
        .where(which)
        .values(
            access_count=MemoryEntryRow.access_count + 1,
            last_accessed_at=bindparam("now", type_=MemoryEntryRow.last_accessed_at.type),
        )
        .returning(*ENTRY_COLUMNS)
    )


_SQLITE_TOUCH = _touch(one_of_parameter(MemoryEntryRow.id, "ids", "sqlite"))
_SQLITE_LOG = insert(RecallLogRow)
_SETTING = select(func.set_config("synchronous_commit", "off", True)).cte("setting")
_LOGGED = (
    insert(RecallLogRow)
    .from_select(
        LOG_COLUMNS,
        select(
            *(
                bindparam(f"log_{name}", type_=RecallLogRow.__table__.c[name].type)
                for name in LOG_COLUMNS
            )
        ).select_from(_SETTING),
    )
    .cte("logged")
)
_POSTGRES_TOUCH = _touch(one_of_parameter(MemoryEntryRow.id, "ids", "postgresql"))
_POSTGRES_TOUCH_AND_LOG = _POSTGRES_TOUCH.add_cte(_LOGGED)


async def touch_and_log(
    db: ModuleDatabase, ids: list[uuid.UUID], log: RecallLogRow, now: datetime
) -> dict[uuid.UUID, Row[*tuple[Any, ...]]]:
    """The entries `ids` touched at `now`, by id, as the touch returns them; `log`
    written."""
    values = {name: getattr(log, name) for name in LOG_COLUMNS}
    if db.dialect == "sqlite":
        async with db.transaction() as tx:
            # Through the connection, as on PostgreSQL: the ORM's handling of an UPDATE
            # (its session to synchronise) and of a new row (a flush) cost 0.5-1 ms.
            connection = await tx.connection()
            found = await connection.execute(_SQLITE_TOUCH, {"ids": ids, "now": now})
            touched = {row.id: row for row in found}
            await connection.execute(_SQLITE_LOG, values)
            return touched
    async with db.statement() as tx:
        # Through the connection: the ORM's own handling of an UPDATE's RETURNING
        # reads it as having no rows once the statement has a WITH.
        connection = await tx.connection()
        found = await connection.execute(
            _POSTGRES_TOUCH_AND_LOG,
            {"ids": ids, "now": now, **{f"log_{name}": v for name, v in values.items()}},
        )
        return {row.id: row for row in found}
