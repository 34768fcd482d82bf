"""Pharmacists, signing credentials, the pharmacy CA, claims, signed decisions and the release outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:47:42.447035
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workstation.adapters.db.types import UtcDateTime

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pharmacist',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('licence', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('roles', sa.String(length=128), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', UtcDateTime(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pharmacist')),
    sa.UniqueConstraint('licence', name=op.f('uq_pharmacist_licence'))
    )
    op.create_table('pharmacy_ca',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('encrypted_key_pem', sa.Text(), nullable=False),
    sa.Column('key_secret_name', sa.String(length=128), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pharmacy_ca'))
    )
    op.create_table('signing_credential',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pharmacist_id', sa.Integer(), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('chain_pem', sa.Text(), nullable=False),
    sa.Column('encrypted_key_pem', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('not_before', UtcDateTime(), nullable=False),
    sa.Column('not_after', UtcDateTime(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['pharmacist.id'], name=op.f('fk_signing_credential_pharmacist_id_pharmacist')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_credential'))
    )
    with op.batch_alter_table('signing_credential', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signing_credential_pharmacist_id'), ['pharmacist_id'], unique=False)

    op.create_table('claim',
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('pharmacist_id', sa.Integer(), nullable=False),
    sa.Column('claimed_at', UtcDateTime(), nullable=False),
    sa.Column('expires_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['pharmacist.id'], name=op.f('fk_claim_pharmacist_id_pharmacist')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'], name=op.f('fk_claim_prescription_id_prescription')),
    sa.PrimaryKeyConstraint('prescription_id', name=op.f('pk_claim'))
    )
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_pharmacist_id'), ['pharmacist_id'], unique=False)

    op.create_table('decision',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('prescription_number', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('pharmacist_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('acknowledged', sa.Text(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('rule_set_version', sa.String(length=32), nullable=False),
    sa.Column('decided_at', UtcDateTime(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=True),
    sa.Column('signature_jws', sa.Text(), nullable=True),
    sa.Column('provenance', sa.Text(), nullable=True),
    sa.Column('release_status', sa.String(length=32), nullable=False),
    sa.Column('release_note', sa.Text(), nullable=True),
    sa.CheckConstraint("kind <> 'approve' OR (statement IS NOT NULL AND signature_jws IS NOT NULL AND provenance IS NOT NULL)", name=op.f('ck_decision_approval_signed')),
    sa.CheckConstraint("kind = 'approve' OR (reason_code IS NOT NULL AND comment IS NOT NULL)", name=op.f('ck_decision_reason_given')),
    sa.CheckConstraint("kind IN ('approve', 'reject', 'return')", name=op.f('ck_decision_kind')),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['pharmacist.id'], name=op.f('fk_decision_pharmacist_id_pharmacist')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'], name=op.f('fk_decision_prescription_id_prescription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision')),
    sa.UniqueConstraint('prescription_id', name=op.f('uq_decision_prescription_id'))
    )
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_pharmacist_id'), ['pharmacist_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('decision_id', sa.String(length=36), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UtcDateTime(), nullable=False),
    sa.Column('lease_until', UtcDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['decision_id'], ['decision.id'], name=op.f('fk_outbox_decision_id_decision')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('decision_id', 'target', name=op.f('uq_outbox_decision_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_due', ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_due')

    op.drop_table('outbox')
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_pharmacist_id'))

    op.drop_table('decision')
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_pharmacist_id'))

    op.drop_table('claim')
    with op.batch_alter_table('signing_credential', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signing_credential_pharmacist_id'))

    op.drop_table('signing_credential')
    op.drop_table('pharmacy_ca')
    op.drop_table('pharmacist')
