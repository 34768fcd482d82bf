"""What the dispensing label prints of a formulary drug: storage, warnings, and what one package holds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('formulary_entry') as batch:
        batch.add_column(sa.Column('storage', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('label_warnings', sa.Text(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('package_size', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('package_unit', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('formulary_entry') as batch:
        batch.drop_column('package_unit')
        batch.drop_column('package_size')
        batch.drop_column('label_warnings')
        batch.drop_column('storage')
