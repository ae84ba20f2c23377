"""The billing module's settings: the default plan."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.setting import Integer, setting


@dataclass(frozen=True)
class BillingSettings:
    default_max_active_sessions: int = setting(
        "DEFAULT_MAX_ACTIVE_SESSIONS", 20, Integer(0), "the default plan: open sessions per user"
    )
    default_max_sessions_per_day: int = setting(
        "DEFAULT_MAX_SESSIONS_PER_DAY",
        200,
        Integer(0),
        "the default plan: sessions started per user per UTC day",
    )
