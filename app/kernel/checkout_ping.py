"""A pooled PostgreSQL connection is checked with one round trip before it is handed out.

SQLAlchemy's `pool_pre_ping` on asyncpg sends three: BEGIN, an empty prepared statement,
ROLLBACK (the transaction is there for PgBouncer's transaction mode, where a prepared
statement must not change server connections). A simple-protocol `SELECT 1` prepares
nothing, so it needs no transaction. Every unit of work checks a connection out, and a
search takes five, so that is ten round trips fewer a search; each costs the sender a
system call and the database a wake-up on the same cores. What the ping is for is
unchanged: a connection the server closed or lost (a restart, a terminated backend) is
replaced before a request uses it, and a server that stops answering is the connect
timeout's to catch (`ModuleDatabase._connect`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool
from sqlalchemy.util import await_only


def ping_on_checkout(pool: Pool) -> None:
    @event.listens_for(pool, "checkout")
    def ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        try:
            await_only(dbapi_connection.driver_connection.execute("SELECT 1"))
        except Exception as exc:  # what a closed or broken connection raises varies
            # The pool discards this connection and hands out a new one (three tries).
            raise DisconnectionError(f"pooled connection failed its ping ({exc!r})") from exc
