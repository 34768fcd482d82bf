"""Immutable snapshots of a received prescription (处方) and everything a reviewer looks at.

Intake turns a FHIR bundle into these values once; storage, the rules engine and the UI read
them and never the FHIR resources. Absent facts stay ``None`` (or empty): deciding what a
missing fact means is the rules engine's job, not intake's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum


class PrescriberKind(str, Enum):
    """What the MedicationRequest.requester turned out to be."""

    PRACTITIONER = "practitioner"
    DEVICE = "device"  # software, e.g. an AI prescribing assistant: never a physician
    ORGANIZATION = "organization"
    OTHER = "other"
    MISSING = "missing"  # no requester at all
    UNRESOLVED = "unresolved"  # a reference that points at nothing in the bundle


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Concept:
    """A CodeableConcept: its codings and free text."""

    codings: tuple[Coding, ...] = ()
    text: str | None = None

    def label(self) -> str:
        """The best human-readable name: text, else the first display, else the first code."""
        if self.text:
            return self.text
        for c in self.codings:
            if c.display:
                return c.display
        for c in self.codings:
            if c.code:
                return c.code
        return ""

    def codes(self, system: str) -> tuple[str, ...]:
        return tuple(c.code for c in self.codings if c.system == system and c.code)


@dataclass(frozen=True, slots=True)
class Allergy:
    fhir_id: str | None
    substance: Concept
    criticality: str | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """患者. ``birth_date`` is set only for a full YYYY-MM-DD date; ``birth_date_raw`` keeps what came."""

    fhir_id: str | None
    identifier_system: str | None
    identifier_value: str | None
    name: str | None
    gender: str | None
    birth_date: date | None
    birth_date_raw: str | None
    phones: tuple[str, ...] = ()
    address: str | None = None
    allergies: tuple[Allergy, ...] = ()
    weight_kg: Decimal | None = None

    @property
    def masked_identifier(self) -> str | None:
        """The ID number as shown to people: first 6 and last 4 characters (身份证号脱敏)."""
        v = self.identifier_value
        if not v:
            return None
        if len(v) <= 10:
            return v[:2] + "*" * max(len(v) - 4, 1) + v[-2:]
        return v[:6] + "*" * (len(v) - 10) + v[-4:]


@dataclass(frozen=True, slots=True)
class RelatedPerson:
    """A person related to the patient; a guardian (监护人) only by the profile's role codes."""

    fhir_id: str | None
    name: str | None
    relationship_codes: tuple[str, ...]
    is_guardian: bool
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A Condition in the patient's history; ``confirmed`` when it is a confirmed offline diagnosis."""

    fhir_id: str | None
    code_system: str | None
    code: str | None
    display: str | None
    verification_status: str | None
    clinical_status: str | None
    recorded_date: str | None
    source_document_type: str | None
    institution: str | None
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Prescriber:
    """The requester (开方医师) as the bundle describes it."""

    kind: PrescriberKind
    reference: str | None
    fhir_id: str | None = None
    name: str | None = None
    licence: str | None = None
    practice_start: date | None = None
    real_name_verified_at: datetime | None = None
    specialties: tuple[str, ...] = ()
    organization: str | None = None
    device_name: str | None = None


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone who took part in the online visit."""

    role: str  # "guardian", "accompanying_physician" or "other"
    reference: str | None
    fhir_id: str | None
    name: str | None
    resource_type: str | None
    licence: str | None = None
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Encounter:
    """The online visit (在线诊疗)."""

    fhir_id: str | None
    class_code: str | None
    is_follow_up: bool  # SNOMED CT 390906007 present (复诊)
    type_labels: tuple[str, ...]
    participants: tuple[Participant, ...]
    period_start: datetime | None


@dataclass(frozen=True, slots=True)
class Item:
    """One MedicationRequest = one item (药品条目)."""

    fhir_id: str
    status: str | None
    intent: str | None
    authored_on: datetime | None
    authored_on_raw: str | None
    drug: Concept
    medication_form: str | None
    ingredients: tuple[Concept, ...]
    reason_codes: tuple[Coding, ...]
    reason_condition_ids: tuple[str, ...]
    dosage_text: str | None
    timing_code: str | None
    frequency: int | None
    period: Decimal | None
    period_unit: str | None
    route: str | None
    dose_value: Decimal | None
    dose_unit: str | None
    quantity_value: Decimal | None
    quantity_unit: str | None
    supply_days: Decimal | None
    validity_start: str | None
    validity_end: str | None
    course_of_therapy: str | None
    priority: str | None
    notes: tuple[str, ...]
    skin_test_result: str | None
    resource_json: str = field(repr=False)  # the MedicationRequest exactly as received, as JSON
    dose_unit_text: str | None = None  # the dose unit as people write it ("片"), beside its code ("{tbl}")
    timing_when: tuple[str, ...] = ()  # Timing.repeat.when: "PC" after meals, "AC" before, "HS" at bedtime…
    additional_instructions: tuple[str, ...] = ()  # Dosage.additionalInstruction as written ("饭后服用")


@dataclass(frozen=True, slots=True)
class Dispense:
    """A MedicationDispense for an item; handed out before authoredOn means 先药后方."""

    fhir_id: str | None
    item_fhir_id: str
    when_prepared: datetime | None
    when_handed_over: datetime | None


@dataclass(frozen=True, slots=True)
class Signature:
    """The prescriber's e-signature as received (verification happens at review time)."""

    provenance_id: str | None
    jws: str | None
    sig_format: str | None
    type_codes: tuple[str, ...]
    who_reference: str | None
    target_ids: tuple[str, ...]
    when: str | None


@dataclass(frozen=True, slots=True)
class UnreadableResource:
    """A resource the review reads (a Condition, an Encounter, an AllergyIntolerance…) that arrived with the
    prescription but failed validation: kept on record so that nothing the hospital sent is dropped silently."""

    resource_type: str | None
    reference: str  # as the bundle names it: Condition/x, else its fullUrl, else entry[i]
    reason: str

    @property
    def note(self) -> str:
        return f"{self.reference} 无法读取 / could not be read: {self.reason}"


@dataclass(frozen=True, slots=True)
class PrescriptionSnapshot:
    """One prescription as received: everything the rules engine and the pharmacist need."""

    number: str
    group_system: str | None
    content_sha256: str
    items: tuple[Item, ...]
    patient: Patient
    related_persons: tuple[RelatedPerson, ...]
    diagnoses: tuple[Diagnosis, ...]
    prescriber: Prescriber
    encounter: Encounter | None
    signature: Signature | None
    dispenses: tuple[Dispense, ...]
    intake_notes: tuple[str, ...]  # facts intake could not resolve, shown and judged later
    unreadable: tuple[UnreadableResource, ...] = ()  # supporting resources that failed validation

    @property
    def authored_on(self) -> datetime | None:
        times = [i.authored_on for i in self.items if i.authored_on is not None]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class RejectedPart:
    """A prescription (or the whole bundle) that intake refused, with a reason a person can act on."""

    number: str | None
    reason: str
    resource_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedBundle:
    """What one bundle yielded: prescriptions to store and parts to quarantine."""

    bundle_id: str | None
    bundle_type: str | None
    prescriptions: tuple[PrescriptionSnapshot, ...]
    rejected: tuple[RejectedPart, ...]
