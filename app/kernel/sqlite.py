"""SQLite connections for module databases: WAL, foreign keys, a busy timeout, no ATTACH.

The driver is `sqlean.py` (SQLite 3.50 that can load extensions; this Python's own
`sqlite3` cannot), with sqlite-vec loaded on every connection for vector indexes, and
`bm25_counted` (built by `make install`) for the word search's ranking.

The authorizer is the boundary: SQLite asks it before preparing any statement, so
`ATTACH 'other_module.sqlite3'` is refused however the SQL string is written. Loading
further extensions is switched off again once both are in.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import aiosqlite
import sqlean
import sqlite_vec

from . import bm25_counted
from .private_files import tighten
from .sqlite_cursor import OneTripDbapi

_REFUSED_ACTIONS = {sqlean.SQLITE_ATTACH, sqlean.SQLITE_DETACH}


def refuse_attach(action: int, *_: str | None) -> int:
    """SQLite authorizer: deny ATTACH/DETACH, allow everything else."""
    return int(sqlean.SQLITE_DENY if action in _REFUSED_ACTIONS else sqlean.SQLITE_OK)


def open_module_connection(path: Path, busy_timeout_ms: int) -> Any:
    """Open one module's file with the pragmas every module connection must have.

    Runs inside aiosqlite's worker thread; `isolation_level=None` hands transaction
    control to SQLAlchemy's `begin` event (see `database.py`).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlean.connect(str(path), isolation_level=None, check_same_thread=True)
    tighten(path, 0o600)  # its WAL and shared-memory files take this mode
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    bm25_counted.load(conn)
    conn.enable_load_extension(False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free pages
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    conn.set_authorizer(refuse_attach)
    return conn


async def connect_module_file(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    connection = aiosqlite.Connection(
        lambda: open_module_connection(path, busy_timeout_ms), iter_chunk_size=64
    )
    # As SQLAlchemy's own aiosqlite dialect does: a forgotten engine must not keep the
    # interpreter alive at exit.
    connection._thread.daemon = True
    return await connection


def sqlean_dbapi() -> OneTripDbapi:
    """SQLAlchemy's aiosqlite adapter, told that errors come from sqlean, not sqlite3,
    so an IntegrityError is still recognised (and wrapped) as one; each statement in one
    trip to the driver's thread (`sqlite_cursor`)."""
    errors = {
        name: getattr(sqlean, name)
        for name in (
            "DatabaseError",
            "Error",
            "IntegrityError",
            "NotSupportedError",
            "OperationalError",
            "ProgrammingError",
        )
    }
    shim = types.SimpleNamespace(
        **{
            **vars(aiosqlite),
            **errors,
            "sqlite_version": sqlean.sqlite_version,
            "sqlite_version_info": sqlean.sqlite_version_info,
        }
    )
    return OneTripDbapi(shim, sqlean)  # type: ignore[arg-type]  # the shim stands in for aiosqlite's module
