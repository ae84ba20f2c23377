"""What a database's error means for the module that met it: down, busy, or neither.

A module's database that is down, refusing or hanging makes that module answer 503 and
counts against its circuit breaker; SQLite's write lock held by another process is busy
(503, not counted); any other error (a constraint, a bad value) is the request's own.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# What a database that is down, refusing or hanging raises (the pool's own timeout is a
# TimeoutError too); an error about the data (a constraint, a bad value) is none of these.
UNREACHABLE = (OperationalError, InterfaceError, OSError, TimeoutError)


def failure_kind(exc: BaseException) -> str | None:
    """`down` for a database that is unreachable, refusing, shutting down or not answering
    in time; `busy` for SQLite's lock held by another process; None for anything else."""
    if not isinstance(exc, DBAPIError):
        return "down"  # OSError or TimeoutError: connecting, or the pool's wait
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return "down"
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    message = str(exc.orig).lower()
    # 08 connection exception, 53 insufficient resources, 57 operator intervention (shut
    # down, cannot connect now, the statement timeout).
    if sqlstate[:2] in {"08", "53", "57"} or "timeout" in message or "unable to open" in message:
        return "down"
    if "database is locked" in message or "database is busy" in message:
        return "busy"
    return None
