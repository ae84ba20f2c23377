"""A pgvector HNSW index of one embedding model's vectors, built alike by every module.

The graph is built with `ef_construction = 128`, twice pgvector's default. How many of
the exact 10 nearest a search finds depends on the graph more than on the search's beam:
at 100k memories (bench/memory_recall.py), thirteen builds with the default held
0.946-0.994 of them at `ef_search` 800, and raising the beam to pgvector's ceiling
(1000) added 0-0.02 to a build; six builds with 128 held 0.980-1.000, and took a third
longer (ADR 0017).

An index an earlier version built with other options is rebuilt by the module's seed
(`bulkhead db upgrade`), never on a request: the new graph is built beside the old one,
which searches keep walking meanwhile, and then takes its name. Writes to the table wait
for the build, as they did for the first one (CREATE INDEX holds a SHARE lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

EF_CONSTRUCTION = 128
OPTIONS = f"ef_construction={EF_CONSTRUCTION}"  # as pg_class.reloptions lists it


@dataclass(frozen=True)
class HnswIndex:
    """`name`'s index on `table`: the cosine HNSW of `column` cast to `dimensions`, over
    the rows whose `model_name` column is `model_name` (one index per model)."""

    name: str
    table: str
    column: str
    dimensions: int
    model_name: str

    async def ensure(self, tx: AsyncSession) -> None:
        """Build it if it does not exist (over a model's first rows: on a request)."""
        await tx.execute(self._create(self.name, if_missing=True))

    async def build(self, tx: AsyncSession) -> None:
        """Build it, or build it again if it was built with other options: the seed's
        step, which may take minutes over stored rows, so without a statement timeout."""
        await tx.execute(text("SET LOCAL statement_timeout = 0"))
        options = await tx.scalar(
            text("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = to_regclass(:n)"),
            {"n": self.name},
        )
        if options is None:
            await tx.execute(self._create(self.name, if_missing=False))
        elif OPTIONS not in options:
            rebuilt = f"{self.name}_rebuilt"
            await tx.execute(self._create(rebuilt, if_missing=False))
            await tx.execute(text(f"DROP INDEX {self.name}"))
            await tx.execute(text(f"ALTER INDEX {rebuilt} RENAME TO {self.name}"))

    def _create(self, name: str, *, if_missing: bool) -> TextClause:
        # The model name is the index's condition, so it is part of the statement.
        quoted = self.model_name.replace("'", "''")
        return text(
            f"CREATE INDEX {'IF NOT EXISTS ' if if_missing else ''}{name} ON {self.table} "
            f"USING hnsw (({self.column}::vector({self.dimensions})) vector_cosine_ops) "
            f"WITH ({OPTIONS}) WHERE model_name = '{quoted}'"
        )
