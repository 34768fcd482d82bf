"""The signing PIN's lock kept with the credential, which secrets the stored private key is bound to, and
the loosened review settings each decision was made under.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workstation.adapters.db.types import UtcDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signing_credential') as batch:
        batch.add_column(sa.Column('pin_failures', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('pin_locked_until', UtcDateTime(), nullable=True))
        # Keys stored before this revision are encrypted under the PIN alone; the next signature re-binds them.
        batch.add_column(sa.Column('key_binding', sa.String(length=16), nullable=False, server_default='pin'))
    with op.batch_alter_table('decision') as batch:
        batch.add_column(sa.Column('settings_loosened', sa.Text(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('decision') as batch:
        batch.drop_column('settings_loosened')
    with op.batch_alter_table('signing_credential') as batch:
        batch.drop_column('key_binding')
        batch.drop_column('pin_locked_until')
        batch.drop_column('pin_failures')
