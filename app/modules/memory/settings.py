"""The memory module's settings: working memory's life and size, recall's recency."""

from __future__ import annotations

from dataclasses import dataclass

from app.kernel.setting import Duration, Integer, setting


@dataclass(frozen=True)
class MemorySettings:
    working_ttl_s: int = setting(
        "MEMORY_WORKING_TTL",
        3_600,
        Duration(),
        "a session's working memory lives this long after its last read or write (`s`, `m`, "
        "`h`, `d`, `w`)",
    )
    working_max_items: int = setting(
        "MEMORY_WORKING_MAX_ITEMS", 50, Integer(1), "items per working memory; the oldest go first"
    )
    seed_count: int = setting(
        "MEMORY_SEED_COUNT",
        5,
        Integer(0),
        "the user's most important memories a new working memory starts with",
    )
    half_life_s: int = setting(
        "MEMORY_HALF_LIFE",
        30 * 86_400,
        Duration(),
        "recall's recency halves every this long since a memory was last used",
    )
