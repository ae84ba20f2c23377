"""Which model's vectors searches use, and which model a re-index is building.

Stored in the module's own `index_state` table (one row), so every server process and
the `bulkhead rag reindex` command agree; created on first use with the configured
default model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.kernel.columns import utcnow

from .models import IndexStateRow

STATE_ROW = 1


@dataclass(frozen=True)
class IndexState:
    active_model: str
    target_model: str | None
    saved: bool = True  # False: nothing stored yet, the configured default applies

    @property
    def models(self) -> list[str]:
        """Models new chunks must be embedded with: the active one, and a re-index target."""
        return [self.active_model] + ([self.target_model] if self.target_model else [])


async def load_index_state(tx: AsyncSession, default_model: str) -> IndexState:
    row = await tx.get(IndexStateRow, STATE_ROW)
    if row is None:
        return IndexState(active_model=default_model, target_model=None, saved=False)
    return IndexState(active_model=row.active_model, target_model=row.target_model)


async def save_index_state(tx: AsyncSession, active_model: str, target_model: str | None) -> None:
    row = await tx.get(IndexStateRow, STATE_ROW)
    if row is None:
        tx.add(
            IndexStateRow(
                id=STATE_ROW,
                active_model=active_model,
                target_model=target_model,
                updated_at=utcnow(),
            )
        )
        return
    row.active_model, row.target_model, row.updated_at = active_model, target_model, utcnow()
