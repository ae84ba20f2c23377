"""rate limits per user

Revision ID: 43fe8e515abf
Revises: 363449204a6c
Create Date: 2026-11-28 04:12:43.329700
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '43fe8e515abf'
down_revision: str | Sequence[str] | None = '363449204a6c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The key gains the user. Windows are short-lived counters, so the table is made anew
    # rather than migrated: limits start afresh once, at the upgrade.
    op.drop_table('rate_limits')
    _create(with_user=True)


def downgrade() -> None:
    op.drop_table('rate_limits')
    _create(with_user=False)


def _create(*, with_user: bool) -> None:
    user = [sa.Column('user_id', sa.String(length=128), nullable=False)] if with_user else []
    op.create_table('rate_limits',
    sa.Column('tool_name', sa.String(length=100), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    *user,
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tool_name', 'client_id', *(['user_id'] if with_user else []), 'window_start')
    )
