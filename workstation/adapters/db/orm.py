"""The typed ORM (SQLAlchemy 2): every table the workstation keeps. Schema changes go through Alembic."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from workstation.adapters.db.types import UtcDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class FhirPayload(Base):
    """A bundle exactly as received (verbatim bytes), stored once per distinct content."""

    __tablename__ = "fhir_payload"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(Integer)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)  # over the storage limit: head kept
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Patient(Base):
    """患者, keyed by ID number when one is given, else by the source's resource id."""

    __tablename__ = "patient"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_key: Mapped[str] = mapped_column(String(512), unique=True)
    fhir_id: Mapped[str | None] = mapped_column(String(128))
    identifier_system: Mapped[str | None] = mapped_column(String(256))
    identifier_value: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(256))
    gender: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_date_raw: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(512))
    weight_kg: Mapped[str | None] = mapped_column(String(32))  # decimal text: exact, backend-neutral
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    related_persons: Mapped[list[RelatedPerson]] = relationship(back_populates="patient")
    diagnoses: Mapped[list[Diagnosis]] = relationship(back_populates="patient")
    allergies: Mapped[list[Allergy]] = relationship(back_populates="patient")


class RelatedPerson(Base):
    """Guardians (监护人) and other related persons of a patient, as each bundle described them."""

    __tablename__ = "related_person"
    __table_args__ = (UniqueConstraint("patient_id", "content_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    content_key: Mapped[str] = mapped_column(String(64))
    fhir_id: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(256))
    relationship_codes: Mapped[str] = mapped_column(Text)  # JSON array
    is_guardian: Mapped[bool] = mapped_column(Boolean)
    phone: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="related_persons")


class Diagnosis(Base):
    """The patient's diagnosis history with its source document and institution (实体医疗机构诊断)."""

    __tablename__ = "diagnosis"
    __table_args__ = (UniqueConstraint("patient_id", "content_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    content_key: Mapped[str] = mapped_column(String(64))
    fhir_id: Mapped[str | None] = mapped_column(String(128))
    code_system: Mapped[str | None] = mapped_column(String(256))
    code: Mapped[str | None] = mapped_column(String(64))
    display: Mapped[str | None] = mapped_column(String(512))
    verification_status: Mapped[str | None] = mapped_column(String(32))
    clinical_status: Mapped[str | None] = mapped_column(String(32))
    recorded_date: Mapped[str | None] = mapped_column(String(32))
    source_document_type: Mapped[str | None] = mapped_column(String(64))
    institution: Mapped[str | None] = mapped_column(String(256))
    confirmed: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="diagnoses")


class Allergy(Base):
    """Recorded allergies (过敏史) of a patient."""

    __tablename__ = "allergy"
    __table_args__ = (UniqueConstraint("patient_id", "content_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    content_key: Mapped[str] = mapped_column(String(64))
    fhir_id: Mapped[str | None] = mapped_column(String(128))
    substance: Mapped[str] = mapped_column(String(512))
    codings: Mapped[str] = mapped_column(Text)  # JSON array of {system, code, display}
    criticality: Mapped[str | None] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="allergies")


class Prescriber(Base):
    """开方医师 (or whatever else stood as requester), keyed by licence number when there is one."""

    __tablename__ = "prescriber"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescriber_key: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    licence: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    practice_start: Mapped[date | None] = mapped_column(Date)
    real_name_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    specialties: Mapped[str] = mapped_column(Text, default="[]")  # JSON array
    organization: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Prescription(Base):
    """One version of one prescription (处方). A changed resubmission is a new version."""

    __tablename__ = "prescription"
    __table_args__ = (
        UniqueConstraint("number", "version"),
        Index("ix_prescription_status_received", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))  # received | superseded | approved | rejected | returned
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    content_sha256: Mapped[str] = mapped_column(String(64))
    authored_on: Mapped[datetime | None] = mapped_column(UtcDateTime)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    prescriber_id: Mapped[int] = mapped_column(ForeignKey("prescriber.id"))
    payload_id: Mapped[int] = mapped_column(ForeignKey("fhir_payload.id"))
    source: Mapped[str] = mapped_column(String(1024))
    is_follow_up: Mapped[bool | None] = mapped_column(Boolean)
    snapshot: Mapped[str] = mapped_column(Text)  # the immutable PrescriptionSnapshot as JSON
    intake_notes: Mapped[str] = mapped_column(Text, default="[]")  # JSON array
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    items: Mapped[list[PrescriptionItem]] = relationship(
        back_populates="prescription", order_by="PrescriptionItem.position"
    )
    patient: Mapped[Patient] = relationship()
    prescriber: Mapped[Prescriber] = relationship()
    payload: Mapped[FhirPayload] = relationship()
    dispenses: Mapped[list[DispenseRecord]] = relationship()


class PrescriptionItem(Base):
    """药品条目: one MedicationRequest of a prescription version, kept verbatim beside its facts."""

    __tablename__ = "prescription_item"
    __table_args__ = (UniqueConstraint("prescription_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescription.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    fhir_id: Mapped[str] = mapped_column(String(128))
    drug_name: Mapped[str] = mapped_column(String(512))
    drug_codings: Mapped[str] = mapped_column(Text)  # JSON array
    ingredients: Mapped[str] = mapped_column(Text, default="[]")  # JSON array of names
    dosage_text: Mapped[str | None] = mapped_column(String(1024))
    dose_value: Mapped[str | None] = mapped_column(String(32))
    dose_unit: Mapped[str | None] = mapped_column(String(32))
    timing_code: Mapped[str | None] = mapped_column(String(16))
    route: Mapped[str | None] = mapped_column(String(64))
    quantity_value: Mapped[str | None] = mapped_column(String(32))
    quantity_unit: Mapped[str | None] = mapped_column(String(32))
    supply_days: Mapped[str | None] = mapped_column(String(32))
    course_of_therapy: Mapped[str | None] = mapped_column(String(32))
    resource_json: Mapped[str] = mapped_column(Text)

    prescription: Mapped[Prescription] = relationship(back_populates="items")


class DispenseRecord(Base):
    """A MedicationDispense reported for an item (used to find 先药后方)."""

    __tablename__ = "dispense_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescription.id"), index=True)
    item_fhir_id: Mapped[str] = mapped_column(String(128))
    fhir_id: Mapped[str | None] = mapped_column(String(128))
    when_prepared: Mapped[datetime | None] = mapped_column(UtcDateTime)
    when_handed_over: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IntakeLog(Base):
    """One line per bundle that reached intake, whatever became of it."""

    __tablename__ = "intake_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(1024))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # stored | partial | duplicate | quarantined
    stored: Mapped[int] = mapped_column(Integer, default=0)
    new_versions: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")


class Quarantine(Base):
    """Input intake refused, with the reason and the bytes, until a person resolves it."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(1024))
    payload_id: Mapped[int] = mapped_column(ForeignKey("fhir_payload.id"))
    prescription_number: Mapped[str | None] = mapped_column(String(128))
    resource_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON array
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))

    payload: Mapped[FhirPayload] = relationship()


class FormularyVersion(Base):
    """One import of the pharmacy formulary (药品目录); exactly one version is active."""

    __tablename__ = "formulary_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    entry_count: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    entries: Mapped[list[FormularyEntry]] = relationship(back_populates="version")


class FormularyEntry(Base):
    """A drug of one formulary version, with the facts the rules use."""

    __tablename__ = "formulary_entry"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("formulary_version.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(256))
    name_en: Mapped[str | None] = mapped_column(String(256))
    generic_zh: Mapped[str | None] = mapped_column(String(256))
    generic_en: Mapped[str | None] = mapped_column(String(256))
    atc: Mapped[str | None] = mapped_column(String(16))
    dosage_form: Mapped[str | None] = mapped_column(String(64))
    strength: Mapped[str | None] = mapped_column(String(64))
    special_category: Mapped[str | None] = mapped_column(String(32))
    max_daily_dose_mg: Mapped[str | None] = mapped_column(String(32))
    skin_test_required: Mapped[bool] = mapped_column(Boolean, default=False)
    ingredients_zh: Mapped[str] = mapped_column(Text, default="[]")
    ingredients_en: Mapped[str] = mapped_column(Text, default="[]")
    # What the dispensing label prints (optional import columns).
    storage: Mapped[str | None] = mapped_column(String(128))
    label_warnings: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    package_size: Mapped[int | None] = mapped_column(Integer)
    package_unit: Mapped[str | None] = mapped_column(String(16))

    version: Mapped[FormularyVersion] = relationship(back_populates="entries")


class IntakeCursor(Base):
    """Where an HTTP source was last read up to; advanced only after a page is stored."""

    __tablename__ = "intake_cursor"

    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    cursor: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AuditEvent(Base):
    """The append-only audit trail (审计追踪): each row chained to the one before by SHA-256."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(512))
    details: Mapped[str] = mapped_column(Text)  # RFC 8785 canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # a row has one successor only
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Pharmacist(Base):
    """药师 account: real name, licence (药师注册证号), roles, and the login password's memory-hard hash."""

    __tablename__ = "pharmacist"

    id: Mapped[int] = mapped_column(primary_key=True)
    licence: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    roles: Mapped[str] = mapped_column(String(128))  # comma-separated: pharmacist, lead, admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2id, PHC string
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class PharmacyCa(Base):
    """The pharmacy's own certificate authority; its key is encrypted, the passphrase is in the OS keyring."""

    __tablename__ = "pharmacy_ca"

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    encrypted_key_pem: Mapped[str] = mapped_column(Text)
    key_secret_name: Mapped[str] = mapped_column(String(128))  # the keyring entry holding the passphrase
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SigningCredential(Base):
    """A pharmacist's signing certificate and private key, the key encrypted under their password and signing PIN."""

    __tablename__ = "signing_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    pharmacist_id: Mapped[int] = mapped_column(ForeignKey("pharmacist.id"), index=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text)  # the issuers above the leaf, nearest first
    encrypted_key_pem: Mapped[str] = mapped_column(Text)  # PKCS#8, encrypted under password and PIN (key_binding)
    source: Mapped[str] = mapped_column(String(16))  # local-ca | imported
    serial: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[datetime] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Wrong PINs in a row, kept here so that a restart or another workstation does not reset them.
    pin_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pin_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # "password+pin": the key is encrypted under both; "pin": stored before that, re-bound at the next signature.
    key_binding: Mapped[str] = mapped_column(String(16), default="password+pin", server_default="pin")


class Claim(Base):
    """认领: a lease on a prescription; only its holder may decide, and an expired one returns it to the queue."""

    __tablename__ = "claim"

    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescription.id"), primary_key=True)
    pharmacist_id: Mapped[int] = mapped_column(ForeignKey("pharmacist.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Decision(Base):
    """审核决定: approve, reject or return, with the findings as they stood; an approval carries its signature."""

    __tablename__ = "decision"
    __table_args__ = (
        CheckConstraint("kind IN ('approve', 'reject', 'return')", name="kind"),
        # There is never a stored approval without its signed statement and Provenance.
        CheckConstraint("kind <> 'approve' OR (statement IS NOT NULL AND signature_jws IS NOT NULL "
                        "AND provenance IS NOT NULL)", name="approval_signed"),
        CheckConstraint("kind = 'approve' OR (reason_code IS NOT NULL AND comment IS NOT NULL)", name="reason_given"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID: the release's Idempotency-Key
    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescription.id"), unique=True)  # one decision each
    prescription_number: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    pharmacist_id: Mapped[int] = mapped_column(ForeignKey("pharmacist.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    acknowledged: Mapped[str] = mapped_column(Text, default="{}")  # JSON: rule id -> reason
    findings: Mapped[str] = mapped_column(Text, default="[]")  # JSON, as they stood at decision time
    rule_set_version: Mapped[str] = mapped_column(String(32))
    # JSON [{setting, reason, settings_sha256}]: the review settings less strict than the law it was made under
    settings_loosened: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
    statement: Mapped[str | None] = mapped_column(Text)  # the signed statement, RFC 8785 JSON
    signature_jws: Mapped[str | None] = mapped_column(Text)  # compact JWS, statement attached
    provenance: Mapped[str | None] = mapped_column(Text)  # FHIR Provenance JSON
    release_status: Mapped[str] = mapped_column(String(32))  # not_released | pending | released | release_failed | refused
    release_note: Mapped[str | None] = mapped_column(Text)


class Outbox(Base):
    """发往调配与配送的待发消息, written in the approval's transaction; a sender delivers each exactly once."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("decision_id", "target"),
        Index("ix_outbox_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decision.id"))
    target: Mapped[str] = mapped_column(String(16))  # dispensing | delivery
    body: Mapped[str | None] = mapped_column(Text)  # delivery: the signed message; dispensing: built at send time
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | release_failed | refused
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)  # a sender working on it
    last_error: Mapped[str | None] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrustAnchor(Base):
    """A CA certificate the workstation trusts, kept in the database (today: the demo CA, in demo mode only).

    ``purpose`` says what it is trusted for: prescriber e-signatures, pharmacist signatures, or both.
    """

    __tablename__ = "trust_anchor"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # demo
    purpose: Mapped[str] = mapped_column(String(16))  # prescriber | pharmacist | both
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ReviewSummary(Base):
    """What the queue shows and sorts by: the risk and marks of a prescription version's last rules run.

    The prescription view always re-runs the rules; this row only orders and filters the queue. A
    prescription with no row has not been checked yet and is shown (and sorted) as such — never as clean.
    ``risk_rank``: 0 not checked (the engine failed), 1 block, 2 warn, 3 clean.
    """

    __tablename__ = "review_summary"
    __table_args__ = (Index("ix_review_summary_rank", "risk_rank", "prescription_id"),)

    prescription_id: Mapped[int] = mapped_column(ForeignKey("prescription.id"), primary_key=True)
    risk_rank: Mapped[int] = mapped_column(Integer)
    risk: Mapped[str] = mapped_column(String(16))  # unchecked | block | warn | clean
    findings: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [{"rule_id", "severity"}]
    special_marks: Mapped[str] = mapped_column(String(128), default="")  # comma-separated categories
    has_special: Mapped[bool] = mapped_column(Boolean, default=False)
    under_six: Mapped[bool] = mapped_column(Boolean, default=False)
    age_years: Mapped[int | None] = mapped_column(Integer)
    department: Mapped[str | None] = mapped_column(String(256))
    rule_set_version: Mapped[str] = mapped_column(String(32))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SiteSetting(Base):
    """A setting shared by every workstation of the pharmacy (e.g. ``pharmacy.name``), changed by an admin."""

    __tablename__ = "site_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(256))


class RosterShift(Base):
    """排班: a pharmacist's shift, with its role (审方 reviews prescriptions); edited with who and why audited."""

    __tablename__ = "roster_shift"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pharmacist_id: Mapped[int] = mapped_column(ForeignKey("pharmacist.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class BusinessHours(Base):
    """营业时间: opening spans per weekday (0 = Monday), or for one date (a holiday: no span; 调休: its own)."""

    __tablename__ = "business_hours"
    __table_args__ = (
        CheckConstraint("(weekday IS NULL) <> (day IS NULL)", name="weekday_or_day"),
        CheckConstraint("(opens IS NULL) = (closes IS NULL)", name="opens_with_closes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int | None] = mapped_column(Integer, index=True)
    day: Mapped[date | None] = mapped_column(Date, index=True)
    opens: Mapped[str | None] = mapped_column(String(5))  # "08:00", local time; None with closes: closed that day
    closes: Mapped[str | None] = mapped_column(String(5))  # at or before opens: the next morning


class Presence(Base):
    """在岗: one workstation's signed-in pharmacist in one state (reviewing, idle, locked), kept by heartbeats."""

    __tablename__ = "presence"

    id: Mapped[int] = mapped_column(primary_key=True)
    workstation_id: Mapped[str] = mapped_column(String(64), index=True)
    pharmacist_id: Mapped[int] = mapped_column(ForeignKey("pharmacist.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CoverageGapNote(Base):
    """Why a coverage gap happened (缺口原因), as the lead recorded it for the monthly report."""

    __tablename__ = "coverage_gap_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)
    noted_by: Mapped[str] = mapped_column(String(128))
    noted_at: Mapped[datetime] = mapped_column(UtcDateTime)
