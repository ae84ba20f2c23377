"""SQLite's sign-bit prefilter: created with the vectors, and by a migration for vectors
stored before it existed; it answers as the exact scan does."""

from pathlib import Path

import numpy as np
from alembic import command
from sqlalchemy import text

from app.kernel import migrations
from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.main import REGISTRY
from app.modules.rag import vector_index
from app.modules.rag.service import RagService
from contracts.rag import DocumentCreate, SearchFilters

MODEL = "hashing-64"
BEFORE_SIGN_BITS = "b79fb0d06b0a"


async def test_a_migration_adds_sign_bits_to_vectors_stored_without_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, embedding_model=MODEL)
    rag_module = REGISTRY["rag"]
    await migrations.upgrade_modules([rag_module], settings)
    database = open_module_database("rag", settings)
    try:
        rag = RagService(database, settings)
        words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
        await rag.ingest(
            documents=[
                DocumentCreate(source=f"doc/{i}", text=f"{words[i % 12]} {words[(i * 7) % 12]}")
                for i in range(60)
            ]
        )
        bits = f"vecbits_{vector_index._slug(MODEL)}"
        async with database.engine.connect() as conn:  # back to before the sign bits
            await conn.run_sync(
                lambda sync: command.downgrade(
                    migrations.alembic_config(rag_module, sync), BEFORE_SIGN_BITS
                )
            )
            await conn.commit()
        assert not await _has_table(database, bits)
        await migrations.upgrade(rag_module, database)
        async with database.read() as tx:
            count = await tx.scalar(text(f"SELECT count(*) FROM {bits}"))
            assert count == 60
            query = np.zeros(64, dtype=np.float32)
            query[[3, 17, 40]] = 1.0
            fast = await vector_index.search(tx, MODEL, query, 5, SearchFilters())
            exact = await vector_index.exact_search(tx, MODEL, query, 5, SearchFilters())
        # Many chunks share a vector here, so compare what was found, not which of equals.
        assert [round(score, 5) for _, score in fast] == [round(s, 5) for _, s in exact]
    finally:
        await database.dispose()


async def _has_table(database: object, name: str) -> bool:
    from app.kernel.database import ModuleDatabase

    assert isinstance(database, ModuleDatabase)
    async with database.read() as tx:
        found = await tx.scalar(
            text("SELECT 1 FROM sqlite_master WHERE name = :name"), {"name": name}
        )
    return found is not None
