"""The RAG module's tables. Private: other modules ask `RagAPI`.

Besides these, the module's own migrations and `vector_index.py` / `lexical_index.py`
keep index structures SQLAlchemy does not model: FTS5 and sqlite-vec virtual tables on
SQLite, a GIN full-text index and per-model HNSW indexes on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kernel.columns import UTCDateTime
from app.kernel.events import add_event_tables
from app.kernel.vector_column import VectorColumn

metadata = MetaData()
# outbox, inbox and dead_letters: this module's side of events (app/kernel/events).
EVENT_TABLES = add_event_tables(metadata)

# Index structures kept outside the ORM, by name prefix (see the module docstring).
UNMODELLED = (
    "documents_fts",
    "vec_",
    "content_tsv",
    "ix_documents_content_tsv",
    "ix_embeddings_hnsw_",
)


class Base(DeclarativeBase):
    metadata = metadata


class DocumentRow(Base):
    """One chunk of a source text."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("source", "chunk_index", name="uq_documents_source_chunk"),
        Index("ix_documents_content_hash", "content_hash"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text)
    chunk_index: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON().with_variant(JSONB(), "postgresql")
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EmbeddingRow(Base):
    __tablename__ = "embeddings"
    __table_args__ = (
        UniqueConstraint("document_id", "model_name", name="uq_embeddings_document_model"),
        Index("ix_embeddings_model_name", "model_name"),
    )

    # An integer key: sqlite-vec's vec0 tables are keyed by it.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(200))
    vector: Mapped[bytes] = mapped_column(VectorColumn)


class RetrievalLogRow(Base):
    __tablename__ = "retrieval_logs"
    __table_args__ = (Index("ix_retrieval_logs_created_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    query_hash: Mapped[str] = mapped_column(String(64))
    results: Mapped[list[str]] = mapped_column(JSON)  # document ids, best first
    latency_ms: Mapped[float] = mapped_column(Float)
    mode: Mapped[str] = mapped_column(String(16))
    k: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IndexStateRow(Base):
    """One row: which model's vectors searches use, and which one a re-index is building."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    active_model: Mapped[str] = mapped_column(String(200))
    target_model: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
