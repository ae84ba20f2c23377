"""Sandbox slots shared fairly: a process-wide cap, and a smaller cap per user.

With only the process-wide cap, ten long calls of one user held every slot and everyone
else's short call waited behind them. A user's calls past their share wait on their own
semaphore first, so the remaining slots stay free for other users.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SandboxSlots:
    def __init__(self, *, total: int, per_user: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_user_limit = min(per_user, total)
        self._users: dict[str, tuple[asyncio.Semaphore, int]] = {}  # semaphore, callers

    @asynccontextmanager
    async def hold(self, user_id: str) -> AsyncIterator[None]:
        """One slot for one of the user's runs, waiting for the user's share first."""
        own, callers = self._users.get(user_id, (asyncio.Semaphore(self._per_user_limit), 0))
        self._users[user_id] = (own, callers + 1)
        try:
            async with own, self._total:
                yield
        finally:
            own, callers = self._users[user_id]
            if callers == 1:
                del self._users[user_id]  # no one of theirs waits or runs: forget the user
            else:
                self._users[user_id] = (own, callers - 1)
