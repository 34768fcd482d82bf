"""The frozen snapshot the rules read, and the findings they write (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum


class Severity(str, Enum):
    BLOCK = "block"  # the prescription cannot be approved
    WARN = "warn"  # approvable only after the pharmacist acknowledges it with a reason

    @property
    def rank(self) -> int:
        return 2 if self is Severity.BLOCK else 1


@dataclass(frozen=True, slots=True)
class SpecialFact:
    """One reason a drug is specially managed: the list category and what matched (shown to the pharmacist)."""

    category: str  # narcotic, psychotropic_1, psychotropic_2, toxic, radioactive, precursor_chemical, online_sale_prohibited
    evidence: str


@dataclass(frozen=True, slots=True)
class DrugFacts:
    """What the workstation resolved about an item's drug before review."""

    name: str
    in_formulary: bool
    formulary_code: str | None = None
    unknown_reason: str | None = None
    special: tuple[SpecialFact, ...] = ()
    atc: str | None = None
    ingredients: tuple[str, ...] = ()
    max_daily_dose_mg: Decimal | None = None
    strength_mg: Decimal | None = None  # per tablet/capsule/unit; None when not a countable unit
    strength_mg_per_ml: Decimal | None = None  # liquids: concentration, e.g. 20 mg/ml; None otherwise
    skin_test_required: bool = False

    def categories(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.category for s in self.special))


@dataclass(frozen=True, slots=True)
class Item:
    """One drug item (MedicationRequest)."""

    id: str
    drug: DrugFacts
    authored_on: datetime | None
    diagnosis_codes: tuple[str, ...] = ()  # ICD-10 codes from reasonCode and referenced Conditions
    dose_value: Decimal | None = None
    dose_unit: str | None = None
    timing_code: str | None = None
    frequency: int | None = None
    period: Decimal | None = None
    period_unit: str | None = None
    quantity: Decimal | None = None
    supply_days: Decimal | None = None
    validity_start: str | None = None
    validity_end: str | None = None
    long_term: bool = False  # courseOfTherapyType continuous (长期处方)
    emergency: bool = False  # priority urgent/stat (急诊)
    notes: tuple[str, ...] = ()
    skin_test_result: str | None = None
    route: str | None = None
    dosage_text: str | None = None


@dataclass(frozen=True, slots=True)
class Allergy:
    label: str
    codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Patient:
    name: str | None
    gender: str | None
    birth_date: date | None  # None when missing or partial: the age is unknown
    birth_date_raw: str | None = None
    allergies: tuple[Allergy, ...] = ()
    weight_kg: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str | None
    confirmed: bool  # a confirmed offline diagnosis backed by a record from a physical institution
    display: str | None = None
    institution: str | None = None
    source_document: str | None = None


@dataclass(frozen=True, slots=True)
class Prescriber:
    kind: str  # practitioner, device, organization, other, missing, unresolved
    licence: str | None = None
    name: str | None = None
    practice_start: date | None = None
    real_name_verified: bool = False


@dataclass(frozen=True, slots=True)
class Participant:
    role: str  # guardian, accompanying_physician, other
    id: str | None
    name: str | None = None
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Visit:
    is_follow_up: bool
    participants: tuple[Participant, ...] = ()


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    status: str  # valid, missing, invalid
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Dispense:
    item_id: str
    when: datetime | None  # the earlier of prepared / handed over


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A resource the review reads that arrived but could not be read (it failed validation)."""

    resource_type: str  # Condition, Encounter, AllergyIntolerance, ... ("" when the type itself is unreadable)
    reference: str  # as the bundle names it: Condition/x, a fullUrl, entry[3]
    reason: str

    @property
    def note(self) -> str:
        return f"{self.reference} 无法读取 / could not be read: {self.reason}"


@dataclass(frozen=True, slots=True)
class InstitutionSettings:
    """The institution's choices; the defaults are the law."""

    time_zone: str = "Asia/Shanghai"
    diagnosis_match: str = "category"  # "category" (3-character ICD-10) or "exact"
    accompanying_specialties: tuple[str, ...] = ()  # empty: any physician other than the prescriber
    ordinary_supply_days: int = 7
    emergency_supply_days: int = 3
    long_term_supply_days: int = 84
    validity_max_days: int = 3
    max_items: int = 5
    severity: tuple[tuple[str, Severity], ...] = ()  # rule id -> severity (validated elsewhere)
    disabled: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a rule may look at, frozen at one review time."""

    number: str
    items: tuple[Item, ...]
    patient: Patient
    prescriber: Prescriber
    visit: Visit | None
    signature: SignatureCheck
    review_time: datetime
    related_persons: tuple[Participant, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    dispenses: tuple[Dispense, ...] = ()
    settings: InstitutionSettings = field(default_factory=InstitutionSettings)
    unreadable: tuple[Unreadable, ...] = ()  # facts that arrived unreadable: evidence for the rules that need them

    def unreadable_of(self, *types: str) -> tuple[Unreadable, ...]:
        """The unreadable resources of these types; one whose type is itself unreadable counts for every type."""
        return tuple(u for u in self.unreadable if u.resource_type in types or not u.resource_type)


@dataclass(frozen=True, slots=True)
class Finding:
    """Like a CDS Hooks card: what, how bad, about which item, why, and on what authority."""

    rule_id: str
    severity: Severity
    item: str | None
    message_zh: str
    message_en: str
    citation: str
    evidence: tuple[str, ...] = ()
    override_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Result:
    """The judgement of one prescription. Not checked means: cannot be approved until a check succeeds."""

    findings: tuple[Finding, ...]
    checked: bool = True
    error: str | None = None
    rule_set_version: str = ""

    @property
    def approvable(self) -> bool:
        return self.checked and not any(f.severity is Severity.BLOCK for f in self.findings)
