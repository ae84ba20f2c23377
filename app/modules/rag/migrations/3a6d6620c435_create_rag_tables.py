"""create rag tables

Revision ID: 3a6d6620c435
Revises: 
Create Date: 2026-11-25 04:53:53.088795
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects import postgresql

from app.kernel.migrations import require_pgvector

revision: str = '3a6d6620c435'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    require_pgvector("rag")
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table('documents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('chunk_index', sa.Integer(), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'chunk_index', name='uq_documents_source_chunk')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index('ix_documents_content_hash', ['content_hash'], unique=False)

    op.create_table('index_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('active_model', sa.String(length=200), nullable=False),
    sa.Column('target_model', sa.String(length=200), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('retrieval_logs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('query_hash', sa.String(length=64), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('k', sa.Integer(), nullable=False),
    sa.Column('model_name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('retrieval_logs', schema=None) as batch_op:
        batch_op.create_index('ix_retrieval_logs_created_at', ['created_at'], unique=False)

    op.create_table('embeddings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('document_id', sa.Uuid(), nullable=False),
    sa.Column('model_name', sa.String(length=200), nullable=False),
    sa.Column('vector', sa.LargeBinary().with_variant(VECTOR(), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('document_id', 'model_name', name='uq_embeddings_document_model')
    )
    with op.batch_alter_table('embeddings', schema=None) as batch_op:
        batch_op.create_index('ix_embeddings_model_name', ['model_name'], unique=False)

    # Word indexes: a GIN index on the English tsvector, or an FTS5 table (porter stemming
    # like PostgreSQL's english configuration). Vector indexes are made per model at run
    # time (vector_index.ensure), since each model fixes its own dimension.
    if postgres:
        # Stored, so ranking reads the tsvector instead of re-parsing every matched chunk.
        op.execute(
            "ALTER TABLE documents ADD COLUMN content_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED"
        )
        op.execute("CREATE INDEX ix_documents_content_tsv ON documents USING gin (content_tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE documents_fts USING fts5("
            "document_id UNINDEXED, content, tokenize = 'porter unicode61')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_documents_content_tsv")
        op.execute("ALTER TABLE documents DROP COLUMN IF EXISTS content_tsv")
    else:
        op.execute("DROP TABLE IF EXISTS documents_fts")
    with op.batch_alter_table('embeddings', schema=None) as batch_op:
        batch_op.drop_index('ix_embeddings_model_name')

    op.drop_table('embeddings')
    with op.batch_alter_table('retrieval_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_retrieval_logs_created_at')

    op.drop_table('retrieval_logs')
    op.drop_table('index_state')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index('ix_documents_content_hash')

    op.drop_table('documents')
