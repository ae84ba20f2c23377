"""Rebuild the analytics read model: empty it, then replay every module's retained events.

Replayed events go through the model's inbox like live ones, so a server that keeps
applying new events meanwhile does no harm: each event still counts once.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.record import Contracts

PAGE = 500
# Called as pages are applied: (events replayed so far, events retained in all).
Progress = Callable[[int, int], None]


async def rebuild_analytics(contracts: Contracts, progress: Progress | None = None) -> int:
    """Return how many events the rebuilt model applied."""
    analytics = contracts.analytics
    sources = {n: c for n, c in contracts.event_sources().items() if n != "analytics"}
    firsts = {
        name: await source.replay_events(after=0, limit=PAGE) for name, source in sources.items()
    }
    total = sum(page.retained for page in firsts.values())
    await analytics.reset()
    replayed = applied = 0
    for name, source in sources.items():
        page = firsts[name]
        while True:
            applied += await analytics.apply_events(events=page.items)
            replayed += len(page.items)
            if progress is not None:
                progress(replayed, max(total, replayed))
            if page.next_after is None:
                break
            page = await source.replay_events(after=page.next_after, limit=PAGE)
    return applied
