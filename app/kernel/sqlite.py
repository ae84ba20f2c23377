"""SQLite connections for module databases: WAL, foreign keys, a busy timeout, no ATTACH.

The authorizer is the boundary: SQLite asks it before preparing any statement, so
`ATTACH 'other_module.sqlite3'` is refused however the SQL string is written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

BUSY_TIMEOUT_MS = 5_000
_REFUSED_ACTIONS = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}


def refuse_attach(action: int, *_: str | None) -> int:
    """SQLite authorizer: deny ATTACH/DETACH, allow everything else."""
    return sqlite3.SQLITE_DENY if action in _REFUSED_ACTIONS else sqlite3.SQLITE_OK


def open_module_connection(path: Path) -> sqlite3.Connection:
    """Open one module's file with the pragmas every module connection must have.

    Runs inside aiosqlite's worker thread; `isolation_level=None` hands transaction
    control to SQLAlchemy's `begin` event (see `database.py`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.set_authorizer(refuse_attach)
    return conn


async def connect_module_file(path: Path) -> aiosqlite.Connection:
    connection = aiosqlite.Connection(lambda: open_module_connection(path), iter_chunk_size=64)
    # As SQLAlchemy's own aiosqlite dialect does: a forgotten engine must not keep the
    # interpreter alive at exit.
    connection._thread.daemon = True
    return await connection
