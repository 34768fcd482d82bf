"""Judging prescriptions (处方审核): from a stored snapshot to the rules engine's verdict.

The workstation resolves what the pure engine cannot — drug classification against the formulary
and the regulatory lists, the prescriber's signature, the institution's settings — and hands the
engine one frozen snapshot. If building that snapshot fails, the prescription is "not checked".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from cryptography import x509
from sqlalchemy import select

import review_rules
from review_rules import model as rm
from workstation.adapters.db import orm
from workstation.adapters.db.uow import UnitOfWork
from workstation.adapters.fhir_bundle import ICD10_SYSTEMS
from workstation.adapters.signature import SignatureStatus, verify_prescriber_signature
from workstation.domain.classification import Classifier, DrugClassification
from workstation.domain.formulary import FormularyEntry
from workstation.domain.prescription import Item, PrescriptionSnapshot
from workstation.domain.special_drugs import SpecialDrugList
from workstation.services import audit
from workstation.settings import Settings

ATC_SYSTEM = "http://www.whocc.no/atc"
_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|g|ug|μg|µg|mcg)\b", re.IGNORECASE)
_MG = {"mg": Decimal(1), "g": Decimal(1000), "ug": Decimal("0.001"), "μg": Decimal("0.001"),
       "µg": Decimal("0.001"), "mcg": Decimal("0.001")}


@dataclass(frozen=True, slots=True)
class Reviewer:
    """What a review needs besides the prescription: built once, used for many prescriptions."""

    classifier: Classifier
    trust_anchors: tuple[x509.Certificate, ...]
    settings: rm.InstitutionSettings

    @classmethod
    def build(cls, formulary: Sequence[FormularyEntry], special: SpecialDrugList,
              trust_anchors: Sequence[x509.Certificate], settings: rm.InstitutionSettings) -> Reviewer:
        return cls(Classifier(formulary, special), tuple(trust_anchors), settings)

    def review(self, snapshot: PrescriptionSnapshot, at: datetime) -> review_rules.Result:
        """The verdict at ``at``. Never raises: a failure to prepare the review is 'not checked'."""
        try:
            facts = self.snapshot(snapshot, at)
        except Exception as exc:  # fail closed: never "no problems found" on an error
            return review_rules.Result((), False, f"审核准备失败 / could not prepare the review: {type(exc).__name__}: {exc}",
                                       review_rules.RULE_SET_VERSION)
        return review_rules.evaluate(facts)

    def snapshot(self, p: PrescriptionSnapshot, at: datetime) -> rm.Snapshot:
        condition_codes = {d.fhir_id: d.code for d in p.diagnoses if d.fhir_id and d.code}
        check = verify_prescriber_signature(p, self.trust_anchors)
        reason = " / ".join(x for x in (check.reason_zh, check.reason_en) if x) or None
        status = {SignatureStatus.VALID: "valid", SignatureStatus.MISSING: "missing"}.get(check.status, "invalid")
        visit = None
        if p.encounter is not None:
            visit = rm.Visit(p.encounter.is_follow_up, tuple(
                rm.Participant(x.role, x.fhir_id or x.reference, x.name, x.specialties) for x in p.encounter.participants))
        return rm.Snapshot(
            number=p.number,
            items=tuple(self._item(i, condition_codes) for i in p.items),
            patient=rm.Patient(p.patient.name, p.patient.gender, p.patient.birth_date, p.patient.birth_date_raw,
                               tuple(rm.Allergy(a.substance.label(), tuple(c.code for c in a.substance.codings if c.code))
                                     for a in p.patient.allergies), p.patient.weight_kg),
            prescriber=rm.Prescriber(p.prescriber.kind.value, p.prescriber.licence, p.prescriber.name or p.prescriber.device_name,
                                     p.prescriber.practice_start, p.prescriber.real_name_verified_at is not None),
            visit=visit,
            signature=rm.SignatureCheck(status, reason),
            review_time=at,
            related_persons=tuple(rm.Participant("guardian" if r.is_guardian else "other", r.fhir_id, r.name)
                                  for r in p.related_persons),
            diagnoses=tuple(rm.Diagnosis(d.code, d.confirmed, d.display, d.institution, d.source_document_type)
                            for d in p.diagnoses),
            dispenses=tuple(rm.Dispense(d.item_fhir_id, min((t for t in (d.when_prepared, d.when_handed_over) if t),
                                                            default=None)) for d in p.dispenses),
            settings=self.settings,
            unreadable=tuple(rm.Unreadable(u.resource_type or "", u.reference, u.reason) for u in p.unreadable),
        )

    def _item(self, item: Item, condition_codes: dict[str, str]) -> rm.Item:
        codes = [c.code for c in item.reason_codes if c.code and (c.system in ICD10_SYSTEMS or c.system is None)]
        codes += [condition_codes[cid] for cid in item.reason_condition_ids if cid in condition_codes]
        return rm.Item(
            id=item.fhir_id,
            drug=drug_facts(item, self.classifier.classify(item)),
            authored_on=item.authored_on,
            diagnosis_codes=tuple(dict.fromkeys(codes)),
            dose_value=item.dose_value, dose_unit=item.dose_unit, timing_code=item.timing_code,
            frequency=item.frequency, period=item.period, period_unit=item.period_unit,
            quantity=item.quantity_value, supply_days=item.supply_days,
            validity_start=item.validity_start, validity_end=item.validity_end,
            long_term=item.course_of_therapy == "continuous",
            emergency=item.priority in ("urgent", "stat", "asap"),
            notes=item.notes, skin_test_result=item.skin_test_result, route=item.route, dosage_text=item.dosage_text,
        )


def drug_facts(item: Item, c: DrugClassification) -> rm.DrugFacts:
    entry = c.formulary_entry
    atc = (entry.atc if entry and entry.atc else None) or next(iter(item.drug.codes(ATC_SYSTEM)), None)
    return rm.DrugFacts(
        name=item.drug.label() or (entry.name_zh if entry else ""),
        in_formulary=entry is not None,
        formulary_code=entry.code if entry else None,
        unknown_reason=c.unknown_reason,
        special=tuple(rm.SpecialFact(f.category, f.via) for f in c.flags),
        atc=atc,
        ingredients=c.ingredients,
        max_daily_dose_mg=entry.max_daily_dose_mg if entry else None,
        strength_mg=strength_mg(entry.strength) if entry and entry.strength else None,
        strength_mg_per_ml=concentration_mg_per_ml(entry.strength) if entry and entry.strength else None,
        skin_test_required=bool(entry and entry.skin_test_required),
    )


def strength_mg(strength: str) -> Decimal | None:
    """Milligrams per countable unit from a formulary strength: '5mg' → 5, '0.5g' → 500; '100mg/5ml' → None."""
    m = _STRENGTH.match(strength)
    per = strength[m.end():].strip() if m else ""
    # Only "per countable unit" strengths: '5mg', '5mg/片'; not volumes, puffs or doses ('100mg/5ml', '10mg/揿').
    if m is None or (per and re.fullmatch(r"/\s*(片|粒|丸|袋|支|tab(let)?|cap(sule)?)", per, re.IGNORECASE) is None):
        return None
    try:
        return Decimal(m.group(1)) * _MG[m.group(2).lower() if m.group(2).lower() in _MG else m.group(2)]
    except (InvalidOperation, KeyError):
        return None


_CONCENTRATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|g|ug|μg|µg|mcg)\s*/\s*(\d+(?:\.\d+)?)?\s*ml\s*$",
                            re.IGNORECASE)


def concentration_mg_per_ml(strength: str) -> Decimal | None:
    """Milligrams per millilitre from a liquid's strength: '20mg/ml' → 20, '100mg/5ml' → 20; else None."""
    m = _CONCENTRATION.match(strength)
    if m is None:
        return None
    volume = Decimal(m.group(3)) if m.group(3) else Decimal(1)
    unit = m.group(2).lower()
    return Decimal(m.group(1)) * _MG[unit] / volume if volume else None


def institution_settings(settings: Settings) -> rm.InstitutionSettings:
    """The engine's view of the institution's review settings (already validated on load)."""
    r = settings.review
    return rm.InstitutionSettings(
        time_zone=settings.pharmacy_time_zone,
        diagnosis_match=r.diagnosis_match,
        accompanying_specialties=r.accompanying_specialties,
        ordinary_supply_days=r.ordinary_supply_days,
        emergency_supply_days=r.emergency_supply_days,
        long_term_supply_days=r.long_term_supply_days,
        validity_max_days=r.validity_max_days,
        max_items=r.max_items,
        severity=tuple((c.rule_id, rm.Severity(c.severity)) for c in r.rules if c.enabled and c.severity),
        disabled=frozenset(c.rule_id for c in r.rules if not c.enabled),
    )


def trust_anchor_paths(settings: Settings, extra: Sequence[Path] = ()) -> list[Path]:
    """Configured anchor files and extra ones (``--trust``). The demo CA is no file: see :func:`stored_trust_anchors`."""
    return [*settings.review.trust_anchors, *extra]


def stored_trust_anchors(uow: UnitOfWork, settings: Settings,
                         purpose: Literal["prescriber", "pharmacist"]) -> tuple[x509.Certificate, ...]:
    """The database-held anchors trusted for ``purpose``: the demo CAs, and only while demo mode is on.

    Outside demo mode nothing of the table is trusted, whatever it holds: a real pharmacy that once ran
    the demo must not go on accepting signatures chaining to a demo CA.
    """
    if not settings.demo_mode:
        return ()
    with uow:
        pems = uow.session.scalars(
            select(orm.TrustAnchor.certificate_pem)
            .where(orm.TrustAnchor.kind == "demo", orm.TrustAnchor.active.is_(True),
                   orm.TrustAnchor.purpose.in_((purpose, "both")))
            .order_by(orm.TrustAnchor.id)).all()
    return tuple(x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in pems)


@dataclass(frozen=True, slots=True)
class Loosening:
    """A review setting less strict than the law or the rule set: which, why, and the settings file it came from."""

    setting: str
    reason: str
    settings_file: str
    settings_sha256: str | None

    def as_json(self) -> dict[str, str | None]:
        return {"setting": self.setting, "reason": self.reason, "settings_sha256": self.settings_sha256}


def loosenings(settings: Settings) -> tuple[Loosening, ...]:
    """Every review setting that is less strict than the law and the rule set, with its reason."""
    defaults = {rid: r.severity.value for rid, r in review_rules.REGISTRY.items()}
    return tuple(Loosening(what, why, str(settings.settings_file), settings.settings_sha256)
                 for what, why in settings.review.loosenings(defaults))


def note_loosenings(uow: UnitOfWork, loosened: Sequence[Loosening], *, actor: str, at: datetime | None = None) -> int:
    """Inside the caller's transaction: a ``review.settings_loosened`` event for each loosening this settings
    file has not yet been recorded with (a changed file is recorded again). Returns how many were new."""
    new = 0
    for item in loosened:
        key = f"{item.setting}\n{item.reason}\n{item.settings_sha256}"
        subject = "review-settings:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        seen = uow.session.scalars(select(orm.AuditEvent.id).where(
            orm.AuditEvent.action == "review.settings_loosened", orm.AuditEvent.subject == subject).limit(1)).first()
        if seen is None:
            audit.record(uow, actor=actor, action="review.settings_loosened", subject=subject,
                         details={"change": item.setting, "reason": item.reason, "settings_file": item.settings_file,
                                  "settings_sha256": item.settings_sha256}, at=at)
            uow.session.flush()  # a second loosening with the same subject in this transaction sees the first
            new += 1
    return new


def record_loosenings(uow: UnitOfWork, settings: Settings, *, actor: str) -> int:
    """Write each loosened review setting, with its reason, to the audit trail once. Returns how many were new."""
    with uow:
        new = note_loosenings(uow, loosenings(settings), actor=actor)
        uow.commit()
    return new
