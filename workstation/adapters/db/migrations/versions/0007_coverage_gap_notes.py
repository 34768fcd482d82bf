"""Why each coverage gap happened, as leads record it for the monthly coverage report.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workstation.adapters.db.types import UtcDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coverage_gap_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('starts_at', UtcDateTime(), nullable=False),
    sa.Column('ends_at', UtcDateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('noted_by', sa.String(length=128), nullable=False),
    sa.Column('noted_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coverage_gap_note'))
    )
    with op.batch_alter_table('coverage_gap_note', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coverage_gap_note_starts_at'), ['starts_at'], unique=False)


def downgrade() -> None:
    op.drop_table('coverage_gap_note')
