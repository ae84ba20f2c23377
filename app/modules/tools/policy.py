"""Which tools a client may run: its allow-list, from an admin or from the settings.

An entry is a tool name (`text.stats`), a prefix pattern (`math.*`) or `*` (every tool).
A client with no list of its own gets the `*` client's list; with no
`BULKHEAD_TOOLS_ALLOWLIST` at all, that is every tool, so a local server just works.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ClientPolicyRow

EVERY_CLIENT = "*"


def allows(patterns: Iterable[str], tool_name: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == tool_name:
            return True
        if pattern.endswith("*") and tool_name.startswith(pattern[:-1]):
            return True
    return False


async def allow_list(
    tx: AsyncSession, settings_lists: Mapping[str, tuple[str, ...]], client_id: str
) -> tuple[str, ...]:
    """The list that applies to this client: its own (admin, then settings), else `*`'s."""
    for client in (client_id, EVERY_CLIENT):
        row = await tx.get(ClientPolicyRow, client)
        if row is not None:
            return tuple(row.allowed_tools)
        if client in settings_lists:
            return settings_lists[client]
    return ()


async def admin_policies(tx: AsyncSession) -> list[ClientPolicyRow]:
    return list(
        (await tx.scalars(select(ClientPolicyRow).order_by(ClientPolicyRow.client_id))).all()
    )
