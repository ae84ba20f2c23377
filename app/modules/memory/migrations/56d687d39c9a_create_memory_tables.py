"""create memory tables

Revision ID: 56d687d39c9a
Revises: 
Create Date: 2026-11-25 06:45:06.805163
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR

from app.kernel.migrations import require_pgvector


revision: str = '56d687d39c9a'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    require_pgvector("memory")
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table('idempotency_keys',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('operation', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('memory_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('root_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('importance', sa.Float(), nullable=False),
    sa.Column('embedding', sa.LargeBinary().with_variant(VECTOR(), 'postgresql'), nullable=False),
    sa.Column('model_name', sa.String(length=200), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source_session_id', sa.Uuid(), nullable=True),
    sa.Column('access_count', sa.Integer(), nullable=False),
    sa.Column('last_accessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('superseded_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('memory_entries', schema=None) as batch_op:
        batch_op.create_index('ix_memory_entries_root', ['root_id'], unique=False)
        batch_op.create_index('ix_memory_entries_user_created', ['user_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('uq_memory_entries_current_content', ['user_id', 'content_hash'], unique=True, sqlite_where=sa.text('superseded_by IS NULL'), postgresql_where=sa.text('superseded_by IS NULL'))

    op.create_table('recall_logs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('results', sa.Integer(), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recall_logs', schema=None) as batch_op:
        batch_op.create_index('ix_recall_logs_created_at', ['created_at'], unique=False)

    op.create_table('working_sessions',
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('session_id')
    )
    with op.batch_alter_table('working_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_working_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('memory_relationships',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('relation_type', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['memory_entries.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['memory_entries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'target_id', 'relation_type', name='uq_memory_relationship')
    )
    with op.batch_alter_table('memory_relationships', schema=None) as batch_op:
        batch_op.create_index('ix_memory_relationships_target', ['target_id'], unique=False)

    # Word index: a GIN index on the English tsvector, or an FTS5 table with the owner as
    # a token (word_index.py). Vectors are scanned exactly per user (recall.py): no index.
    if postgres:
        # Stored, so ranking reads the tsvector instead of re-parsing every matched entry.
        op.execute(
            "ALTER TABLE memory_entries ADD COLUMN content_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_memory_entries_content_tsv ON memory_entries USING gin (content_tsv)"
        )
    else:
        op.execute(
            "CREATE VIRTUAL TABLE memory_entries_fts USING fts5("
            "entry_id UNINDEXED, owner, content, tokenize = 'porter unicode61')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_memory_entries_content_tsv")
        op.execute("ALTER TABLE memory_entries DROP COLUMN IF EXISTS content_tsv")
    else:
        op.execute("DROP TABLE IF EXISTS memory_entries_fts")
    with op.batch_alter_table('memory_relationships', schema=None) as batch_op:
        batch_op.drop_index('ix_memory_relationships_target')

    op.drop_table('memory_relationships')
    with op.batch_alter_table('working_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_working_sessions_user_id'))

    op.drop_table('working_sessions')
    with op.batch_alter_table('recall_logs', schema=None) as batch_op:
        batch_op.drop_index('ix_recall_logs_created_at')

    op.drop_table('recall_logs')
    with op.batch_alter_table('memory_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_memory_entries_current_content', sqlite_where=sa.text('superseded_by IS NULL'), postgresql_where=sa.text('superseded_by IS NULL'))
        batch_op.drop_index('ix_memory_entries_user_created')
        batch_op.drop_index('ix_memory_entries_root')

    op.drop_table('memory_entries')
    op.drop_table('idempotency_keys')
