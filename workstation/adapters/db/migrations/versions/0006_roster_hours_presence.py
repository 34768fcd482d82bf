"""On-duty coverage: the roster's shifts, the business hours and calendar, and workstation presence.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workstation.adapters.db.types import UtcDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('roster_shift',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pharmacist_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', UtcDateTime(), nullable=False),
    sa.Column('ends_at', UtcDateTime(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_roster_shift_ends_after_start')),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['pharmacist.id'], name=op.f('fk_roster_shift_pharmacist_id_pharmacist')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_shift'))
    )
    with op.batch_alter_table('roster_shift', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_shift_pharmacist_id'), ['pharmacist_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_roster_shift_starts_at'), ['starts_at'], unique=False)

    op.create_table('business_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('opens', sa.String(length=5), nullable=True),
    sa.Column('closes', sa.String(length=5), nullable=True),
    sa.CheckConstraint('(weekday IS NULL) <> (day IS NULL)', name=op.f('ck_business_hours_weekday_or_day')),
    sa.CheckConstraint('(opens IS NULL) = (closes IS NULL)', name=op.f('ck_business_hours_opens_with_closes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_hours'))
    )
    with op.batch_alter_table('business_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_business_hours_weekday'), ['weekday'], unique=False)
        batch_op.create_index(batch_op.f('ix_business_hours_day'), ['day'], unique=False)

    op.create_table('presence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workstation_id', sa.String(length=64), nullable=False),
    sa.Column('pharmacist_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('last_seen', UtcDateTime(), nullable=False),
    sa.Column('ended_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['pharmacist.id'], name=op.f('fk_presence_pharmacist_id_pharmacist')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_presence'))
    )
    with op.batch_alter_table('presence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_presence_workstation_id'), ['workstation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_presence_pharmacist_id'), ['pharmacist_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_presence_started_at'), ['started_at'], unique=False)


def downgrade() -> None:
    op.drop_table('presence')
    op.drop_table('business_hours')
    op.drop_table('roster_shift')
