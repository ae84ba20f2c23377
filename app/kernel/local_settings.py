"""PostgreSQL settings for the rest of one transaction, in one round trip.

`SET LOCAL` takes one statement per setting, and each is a round trip; `set_config(name,
value, true)` is the same thing as a function, so one SELECT sets them all.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def set_local(tx: AsyncSession, settings: Mapping[str, str]) -> None:
    """Give each setting its value until this transaction ends (PostgreSQL only)."""
    calls = ", ".join(f"set_config(:name{i}, :value{i}, true)" for i in range(len(settings)))
    params: dict[str, str] = {}
    for i, (name, value) in enumerate(settings.items()):
        params[f"name{i}"], params[f"value{i}"] = name, value
    await tx.execute(text(f"SELECT {calls}"), params)
