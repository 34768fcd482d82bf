"""Trust anchors kept in the database (the demo CA), the queue's review summary, and site-wide settings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workstation.adapters.db.types import UtcDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trust_anchor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trust_anchor'))
    )
    op.create_table('review_summary',
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('risk_rank', sa.Integer(), nullable=False),
    sa.Column('risk', sa.String(length=16), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('special_marks', sa.String(length=128), nullable=False),
    sa.Column('has_special', sa.Boolean(), nullable=False),
    sa.Column('under_six', sa.Boolean(), nullable=False),
    sa.Column('age_years', sa.Integer(), nullable=True),
    sa.Column('department', sa.String(length=256), nullable=True),
    sa.Column('rule_set_version', sa.String(length=32), nullable=False),
    sa.Column('checked_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'],
                            name=op.f('fk_review_summary_prescription_id_prescription')),
    sa.PrimaryKeyConstraint('prescription_id', name=op.f('pk_review_summary'))
    )
    with op.batch_alter_table('review_summary', schema=None) as batch_op:
        batch_op.create_index('ix_review_summary_rank', ['risk_rank', 'prescription_id'], unique=False)

    op.create_table('site_setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_site_setting'))
    )


def downgrade() -> None:
    op.drop_table('site_setting')
    with op.batch_alter_table('review_summary', schema=None) as batch_op:
        batch_op.drop_index('ix_review_summary_rank')
    op.drop_table('review_summary')
    op.drop_table('trust_anchor')
