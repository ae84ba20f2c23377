"""`bulkhead db provision`: one PostgreSQL role and one database per module.

Each database is owned by its module's role and `CONNECT` is revoked from PUBLIC, so a
module's credentials open its own database and no other. Passwords already written to
the URLs file are kept, so running it twice changes nothing a running server relies on.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from .settings import normalise_database_url

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")


def module_identifier(prefix: str, module: str) -> str:
    name = f"{prefix}_{module}"
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a usable PostgreSQL name (lowercase, digits, _)")
    return name


@dataclass(frozen=True)
class Provisioned:
    urls: dict[str, str]  # module -> its own URL, as written to the output file
    warnings: list[str]  # what a module will lack (an extension this server does not have)


async def provision(
    admin_url: str,
    modules: Iterable[str],
    *,
    prefix: str,
    output: Path,
    extensions: Mapping[str, Sequence[str]] | None = None,
) -> Provisioned:
    """Create what is missing, write every module's URL to `output` (mode 0600)."""
    admin = make_url(normalise_database_url("--admin-url", admin_url))
    existing = _read_urls(output)
    urls: dict[str, str] = dict(existing)
    warnings: list[str] = []
    conn = await _connect(admin)
    try:
        for module in modules:
            name = module_identifier(prefix, module)
            password = _password_of(existing.get(module), name) or secrets.token_urlsafe(24)
            await _ensure_role(conn, name, password)
            await _ensure_database(conn, name)
            urls[module] = str(
                admin.set(username=name, password=password, database=name).render_as_string(
                    hide_password=False
                )
            )
            for extension in (extensions or {}).get(module, ()):
                if problem := await _ensure_extension(admin, name, extension):
                    warnings.append(f"{module}: {problem}")
    finally:
        await conn.close()
    _write_urls(output, urls)
    return Provisioned(urls=urls, warnings=warnings)


async def drop(admin_url: str, modules: Iterable[str], *, prefix: str) -> None:
    """Remove the databases and roles `provision` made (tests use it to clean up)."""
    admin = make_url(normalise_database_url("--admin-url", admin_url))
    conn = await _connect(admin)
    try:
        for module in modules:
            name = module_identifier(prefix, module)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await conn.close()


async def _connect(admin: URL, database: str | None = None) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=admin.host,
        port=admin.port or 5432,
        user=admin.username,
        password=admin.password,
        database=database or admin.database or "postgres",
    )


async def _ensure_extension(admin: URL, database: str, extension: str) -> str | None:
    """Create the extension as the admin (module roles are not superusers)."""
    conn = await _connect(admin, database)
    try:
        await conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
    except asyncpg.PostgresError as exc:
        return f"extension {extension!r} is not available on this server ({exc})"
    finally:
        await conn.close()
    return None


async def _ensure_role(conn: asyncpg.Connection, name: str, password: str) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name)
    verb = "ALTER" if exists else "CREATE"
    # DDL takes no bind parameters; the password is generated here (URL-safe alphabet).
    await conn.execute(
        f'{verb} ROLE "{name}" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
        f"PASSWORD '{password}'"
    )


async def _ensure_database(conn: asyncpg.Connection, name: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    await conn.execute(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
    await conn.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{name}" TO "{name}"')


def _password_of(url: str | None, role: str) -> str | None:
    if url is None:
        return None
    parsed = make_url(url)
    password = parsed.password
    if parsed.username != role or not isinstance(password, str):
        return None
    # Only a password this command could have made is reused: it goes into DDL text.
    return password if re.fullmatch(r"[A-Za-z0-9_-]{16,}", password) else None


def _read_urls(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()}


def _write_urls(path: Path, urls: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(urls, handle, indent=2, sort_keys=True)
    tmp.chmod(0o600)
    tmp.replace(path)
