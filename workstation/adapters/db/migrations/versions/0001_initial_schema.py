"""Initial schema: intake, people, prescriptions, formulary, quarantine and the append-only audit trail.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 07:26:21.410286
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workstation.adapters.db.types import UtcDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=256), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=512), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_event_hash')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_event_prev_hash')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_event_seq'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)

    op.create_table('fhir_payload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('truncated', sa.Boolean(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_payload')),
    sa.UniqueConstraint('sha256', name=op.f('uq_fhir_payload_sha256'))
    )
    op.create_table('formulary_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('imported_at', UtcDateTime(), nullable=False),
    sa.Column('imported_by', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_formulary_version'))
    )
    with op.batch_alter_table('formulary_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_formulary_version_active'), ['active'], unique=False)

    op.create_table('intake_cursor',
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('cursor', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_intake_cursor'))
    )
    op.create_table('intake_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('stored', sa.Integer(), nullable=False),
    sa.Column('new_versions', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_log'))
    )
    with op.batch_alter_table('intake_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_log_at'), ['at'], unique=False)

    op.create_table('patient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_key', sa.String(length=512), nullable=False),
    sa.Column('fhir_id', sa.String(length=128), nullable=True),
    sa.Column('identifier_system', sa.String(length=256), nullable=True),
    sa.Column('identifier_value', sa.String(length=128), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('gender', sa.String(length=16), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('birth_date_raw', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=512), nullable=True),
    sa.Column('weight_kg', sa.String(length=32), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient')),
    sa.UniqueConstraint('patient_key', name=op.f('uq_patient_patient_key'))
    )
    op.create_table('prescriber',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescriber_key', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('licence', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('practice_start', sa.Date(), nullable=True),
    sa.Column('real_name_verified_at', UtcDateTime(), nullable=True),
    sa.Column('specialties', sa.Text(), nullable=False),
    sa.Column('organization', sa.String(length=256), nullable=True),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescriber')),
    sa.UniqueConstraint('prescriber_key', name=op.f('uq_prescriber_prescriber_key'))
    )
    with op.batch_alter_table('prescriber', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescriber_licence'), ['licence'], unique=False)

    op.create_table('allergy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('content_key', sa.String(length=64), nullable=False),
    sa.Column('fhir_id', sa.String(length=128), nullable=True),
    sa.Column('substance', sa.String(length=512), nullable=False),
    sa.Column('codings', sa.Text(), nullable=False),
    sa.Column('criticality', sa.String(length=32), nullable=True),
    sa.Column('first_seen_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_allergy_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allergy')),
    sa.UniqueConstraint('patient_id', 'content_key', name=op.f('uq_allergy_patient_id'))
    )
    with op.batch_alter_table('allergy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allergy_patient_id'), ['patient_id'], unique=False)

    op.create_table('diagnosis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('content_key', sa.String(length=64), nullable=False),
    sa.Column('fhir_id', sa.String(length=128), nullable=True),
    sa.Column('code_system', sa.String(length=256), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('display', sa.String(length=512), nullable=True),
    sa.Column('verification_status', sa.String(length=32), nullable=True),
    sa.Column('clinical_status', sa.String(length=32), nullable=True),
    sa.Column('recorded_date', sa.String(length=32), nullable=True),
    sa.Column('source_document_type', sa.String(length=64), nullable=True),
    sa.Column('institution', sa.String(length=256), nullable=True),
    sa.Column('confirmed', sa.Boolean(), nullable=False),
    sa.Column('first_seen_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_diagnosis_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnosis')),
    sa.UniqueConstraint('patient_id', 'content_key', name=op.f('uq_diagnosis_patient_id'))
    )
    with op.batch_alter_table('diagnosis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_diagnosis_patient_id'), ['patient_id'], unique=False)

    op.create_table('formulary_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name_zh', sa.String(length=256), nullable=False),
    sa.Column('name_en', sa.String(length=256), nullable=True),
    sa.Column('generic_zh', sa.String(length=256), nullable=True),
    sa.Column('generic_en', sa.String(length=256), nullable=True),
    sa.Column('atc', sa.String(length=16), nullable=True),
    sa.Column('dosage_form', sa.String(length=64), nullable=True),
    sa.Column('strength', sa.String(length=64), nullable=True),
    sa.Column('special_category', sa.String(length=32), nullable=True),
    sa.Column('max_daily_dose_mg', sa.String(length=32), nullable=True),
    sa.Column('skin_test_required', sa.Boolean(), nullable=False),
    sa.Column('ingredients_zh', sa.Text(), nullable=False),
    sa.Column('ingredients_en', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['formulary_version.id'], name=op.f('fk_formulary_entry_version_id_formulary_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_formulary_entry')),
    sa.UniqueConstraint('version_id', 'code', name=op.f('uq_formulary_entry_version_id'))
    )
    with op.batch_alter_table('formulary_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_formulary_entry_version_id'), ['version_id'], unique=False)

    op.create_table('prescription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('authored_on', UtcDateTime(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=False),
    sa.Column('payload_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('is_follow_up', sa.Boolean(), nullable=True),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.Column('intake_notes', sa.Text(), nullable=False),
    sa.Column('superseded_at', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_prescription_patient_id_patient')),
    sa.ForeignKeyConstraint(['payload_id'], ['fhir_payload.id'], name=op.f('fk_prescription_payload_id_fhir_payload')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['prescriber.id'], name=op.f('fk_prescription_prescriber_id_prescriber')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescription')),
    sa.UniqueConstraint('number', 'version', name=op.f('uq_prescription_number'))
    )
    with op.batch_alter_table('prescription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescription_number'), ['number'], unique=False)
        batch_op.create_index(batch_op.f('ix_prescription_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_prescription_status_received', ['status', 'received_at'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', UtcDateTime(), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('payload_id', sa.Integer(), nullable=False),
    sa.Column('prescription_number', sa.String(length=128), nullable=True),
    sa.Column('resource_ids', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolved_at', UtcDateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['payload_id'], ['fhir_payload.id'], name=op.f('fk_quarantine_payload_id_fhir_payload')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_at'), ['at'], unique=False)

    op.create_table('related_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('content_key', sa.String(length=64), nullable=False),
    sa.Column('fhir_id', sa.String(length=128), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('relationship_codes', sa.Text(), nullable=False),
    sa.Column('is_guardian', sa.Boolean(), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('first_seen_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_related_person_patient_id_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_related_person')),
    sa.UniqueConstraint('patient_id', 'content_key', name=op.f('uq_related_person_patient_id'))
    )
    with op.batch_alter_table('related_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_related_person_patient_id'), ['patient_id'], unique=False)

    op.create_table('dispense_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('item_fhir_id', sa.String(length=128), nullable=False),
    sa.Column('fhir_id', sa.String(length=128), nullable=True),
    sa.Column('when_prepared', UtcDateTime(), nullable=True),
    sa.Column('when_handed_over', UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'], name=op.f('fk_dispense_record_prescription_id_prescription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispense_record'))
    )
    with op.batch_alter_table('dispense_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispense_record_prescription_id'), ['prescription_id'], unique=False)

    op.create_table('prescription_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('fhir_id', sa.String(length=128), nullable=False),
    sa.Column('drug_name', sa.String(length=512), nullable=False),
    sa.Column('drug_codings', sa.Text(), nullable=False),
    sa.Column('ingredients', sa.Text(), nullable=False),
    sa.Column('dosage_text', sa.String(length=1024), nullable=True),
    sa.Column('dose_value', sa.String(length=32), nullable=True),
    sa.Column('dose_unit', sa.String(length=32), nullable=True),
    sa.Column('timing_code', sa.String(length=16), nullable=True),
    sa.Column('route', sa.String(length=64), nullable=True),
    sa.Column('quantity_value', sa.String(length=32), nullable=True),
    sa.Column('quantity_unit', sa.String(length=32), nullable=True),
    sa.Column('supply_days', sa.String(length=32), nullable=True),
    sa.Column('course_of_therapy', sa.String(length=32), nullable=True),
    sa.Column('resource_json', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'], name=op.f('fk_prescription_item_prescription_id_prescription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescription_item')),
    sa.UniqueConstraint('prescription_id', 'position', name=op.f('uq_prescription_item_prescription_id'))
    )
    with op.batch_alter_table('prescription_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescription_item_prescription_id'), ['prescription_id'], unique=False)


    _make_audit_append_only()


# Updates and deletes of audit rows are refused by the database itself, whoever connects.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: rows cannot be changed'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: rows cannot be deleted'); END""",
]
_POSTGRES_TRIGGERS = [
    """CREATE FUNCTION rxws_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP; END $$""",
    """CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION rxws_audit_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION rxws_audit_append_only()""",
]


def _make_audit_append_only() -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _SQLITE_TRIGGERS, "postgresql": _POSTGRES_TRIGGERS}.get(dialect)
    if statements is None:
        raise RuntimeError(f"no append-only guard for the {dialect} database; use SQLite or PostgreSQL")
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS rxws_audit_append_only()")
    with op.batch_alter_table('prescription_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prescription_item_prescription_id'))

    op.drop_table('prescription_item')
    with op.batch_alter_table('dispense_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispense_record_prescription_id'))

    op.drop_table('dispense_record')
    with op.batch_alter_table('related_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_related_person_patient_id'))

    op.drop_table('related_person')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_at'))

    op.drop_table('quarantine')
    with op.batch_alter_table('prescription', schema=None) as batch_op:
        batch_op.drop_index('ix_prescription_status_received')
        batch_op.drop_index(batch_op.f('ix_prescription_patient_id'))
        batch_op.drop_index(batch_op.f('ix_prescription_number'))

    op.drop_table('prescription')
    with op.batch_alter_table('formulary_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_formulary_entry_version_id'))

    op.drop_table('formulary_entry')
    with op.batch_alter_table('diagnosis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_diagnosis_patient_id'))

    op.drop_table('diagnosis')
    with op.batch_alter_table('allergy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allergy_patient_id'))

    op.drop_table('allergy')
    with op.batch_alter_table('prescriber', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prescriber_licence'))

    op.drop_table('prescriber')
    op.drop_table('patient')
    with op.batch_alter_table('intake_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_log_at'))

    op.drop_table('intake_log')
    op.drop_table('intake_cursor')
    with op.batch_alter_table('formulary_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_formulary_version_active'))

    op.drop_table('formulary_version')
    op.drop_table('fhir_payload')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')
