"""The prescription as the window shows it: privacy decided by the claim, every opening audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import Pharmacy
from tests.support import SHARED, earlier_today
from workstation.adapters.db import orm
from workstation.domain.accounts import PermissionDenied, Principal
from workstation.services.detail import PrescriptionNotFound


def _id(pharmacy: Pharmacy, number: str) -> int:
    with pharmacy.ws.uow() as uow:
        pid = uow.session.scalar(select(orm.Prescription.id).where(orm.Prescription.number == number)
                                 .order_by(orm.Prescription.version.desc()))
    assert pid is not None
    return pid


def _ingest_example(pharmacy: Pharmacy, name: str) -> str:
    report = pharmacy.ws.intake.ingest((SHARED / "examples" / name).read_bytes(), f"test:{name}")
    assert report.outcome == "stored", report
    return report.prescriptions[0].number


def _opened(pharmacy: Pharmacy) -> list[dict[str, object]]:
    with pharmacy.ws.uow() as uow:
        return [json.loads(d) for d in uow.session.scalars(
            select(orm.AuditEvent.details).where(orm.AuditEvent.action == "prescription.opened")
            .order_by(orm.AuditEvent.id))]


def _two_visits(pharmacy: Pharmacy) -> None:
    """RXD1 approved two hours ago, RXD2 for the same patient waiting."""
    now = datetime.now(UTC)
    pharmacy.receive("RXD1", authored=earlier_today(timedelta(hours=2), now))
    pharmacy.approve("RXD1")
    pharmacy.receive("RXD2", authored=earlier_today(timedelta(minutes=5), now))


def test_without_the_claim_identity_and_history_stay_hidden(pharmacy: Pharmacy) -> None:
    _two_visits(pharmacy)
    ws = pharmacy.ws
    detail = ws.detail.open(pharmacy.lead, _id(pharmacy, "RXD2"))
    assert not detail.holds_claim and detail.history_hidden
    assert detail.patient.name and "*" in detail.patient.name and not detail.patient.identity_shown
    assert detail.patient.birth_date is None and detail.patient.phone is None and detail.patient.address is None
    assert detail.diagnoses == () and detail.earlier == () and detail.diagnosis_count > 0
    assert detail.patient.age_years is not None, "the age is shown without the identity"
    assert detail.items and detail.result.approvable  # the prescription itself is shown
    assert _opened(pharmacy) == [{"identity_shown": False, "claimed_by_other": False}]


def test_the_holder_of_the_claim_sees_history_earlier_prescriptions_and_matches(pharmacy: Pharmacy) -> None:
    _two_visits(pharmacy)
    ws = pharmacy.ws
    ws.claims.claim(pharmacy.pharmacist, "RXD2")
    detail = ws.detail.open(pharmacy.pharmacist, _id(pharmacy, "RXD2"))
    assert detail.holds_claim and not detail.history_hidden and detail.patient.identity_shown
    assert detail.patient.name and "*" not in detail.patient.name and detail.patient.birth_date is not None
    assert detail.diagnoses and detail.diagnoses[0].confirmed
    confirmed = [d for d in detail.diagnoses if d.confirmed]
    assert all(d.institution for d in confirmed), "a confirmed diagnosis names its institution"
    assert all(i.diagnosis_matched and i.matched_by for i in detail.items)
    (earlier,) = detail.earlier
    assert (earlier.number, earlier.decision, earlier.decided_by) == ("RXD1", "approve", pharmacy.pharmacist.name)
    assert detail.prescriber.signature_status == "valid" and detail.prescriber.licence
    assert detail.prescriber.years_of_practice is not None and detail.prescriber.years_of_practice >= 3
    assert detail.findings["block"] == ()
    # Someone else opening it sees who holds it.
    other = ws.detail.open(pharmacy.lead, detail.prescription_id)
    assert not other.holds_claim and other.claimed_by == pharmacy.pharmacist.name
    assert [o["identity_shown"] for o in _opened(pharmacy)] == [True, False]


def test_a_child_without_guardian_and_a_narcotic_show_why(pharmacy: Pharmacy) -> None:
    ws = pharmacy.ws
    child = ws.detail.open(pharmacy.lead, _id(pharmacy, _ingest_example(pharmacy, "ex-child-no-guardian.json")))
    assert child.patient.under_six is True and child.patient.age_years is not None and child.patient.age_years < 6
    assert not child.guardian.present and not child.accompanying.present
    assert {"pediatric.no_guardian", "pediatric.no_accompanying_physician"} <= {f.rule_id for f in child.findings["block"]}
    narcotic = ws.detail.open(pharmacy.lead, _id(pharmacy, _ingest_example(pharmacy, "ex-narcotic.json")))
    marks = [m for i in narcotic.items for m in i.marks]
    assert any(m.category == "narcotic" and m.evidence for m in marks), marks
    finding = next(f for f in narcotic.findings["block"] if f.rule_id == "special_drug.narcotic")
    assert finding.citation and finding.message_zh
    assert not narcotic.result.approvable


def test_opening_needs_the_queue_permission_and_an_existing_prescription(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXD3")
    with pytest.raises(PermissionDenied):
        pharmacy.ws.detail.open(Principal(name="nobody", roles=frozenset()), _id(pharmacy, "RXD3"))
    with pytest.raises(PrescriptionNotFound):
        pharmacy.ws.detail.open(pharmacy.pharmacist, 987654)
    assert _opened(pharmacy) == []
