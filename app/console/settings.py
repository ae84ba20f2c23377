"""Settings of the operator's console."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.setting import Choice, setting


@dataclass(frozen=True)
class ConsoleSettings:
    secure_cookie: str = setting(
        "CONSOLE_SECURE_COOKIE",
        "false",
        Choice(("true", "false")),
        "`true` behind HTTPS: the console's cookies are then sent over HTTPS only "
        "(they are HttpOnly and SameSite=Strict either way)",
    )
