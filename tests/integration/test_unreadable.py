"""Nothing the review uses is dropped silently (issue 9, point 2).

A supporting resource that fails validation — a Condition, an Encounter, a RelatedPerson, an
AllergyIntolerance, an Observation… — keeps the prescription, is written down as an intake note naming
the resource and what is wrong with it, and is the evidence of every finding that needs the fact. Where the
fact is needed, the prescription stays not approvable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from review_rules import Severity
from tests.conftest import PASSWORD, PIN, Pharmacy
from tests.support import example_paths, signed_prescription
from workstation.adapters.fhir_bundle import parse_bundle
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.services.decisions import DecisionRefused

pytestmark = pytest.mark.skipif(not example_paths(), reason="no shared example bundles")

Bundle = dict[str, Any]
PATIENT = "Patient/pat-ex-clean-htn"


def _bundle(number: str) -> Bundle:
    data: Bundle = json.loads(signed_prescription(number, datetime.now(UTC)))
    return data


def _raw(bundle: Bundle) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode("utf-8")


def _resource(bundle: Bundle, rtype: str, rid: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype and e["resource"]["id"] == rid)


def _add(bundle: Bundle, resource: dict[str, Any]) -> None:
    bundle["entry"].append({"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource})


def _one(bundle: Bundle) -> PrescriptionSnapshot:
    parsed = parse_bundle(_raw(bundle))
    assert not parsed.rejected, parsed.rejected
    (snapshot,) = parsed.prescriptions
    return snapshot


def _break_condition(b: Bundle) -> None:
    _resource(b, "Condition", "cond-ex-clean-htn-0")["recordedDate"] = "last Tuesday"  # not a FHIR dateTime


def _break_encounter(b: Bundle) -> None:
    del _resource(b, "Encounter", "enc-ex-clean-htn")["status"]  # required (1..1)


def _bad_allergy(b: Bundle) -> None:
    _add(b, {"resourceType": "AllergyIntolerance", "id": "allergy-1", "patient": {"reference": PATIENT},
             "code": {"text": "青霉素"}, "recordedDate": "上周"})  # not a dateTime


def _bad_observation(b: Bundle) -> None:
    _add(b, {"resourceType": "Observation", "id": "weight-1", "status": "final", "subject": {"reference": PATIENT},
             "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
             "valueQuantity": {"value": "seventy", "unit": "kg"}})


def _bad_dispense(b: Bundle) -> None:
    _add(b, {"resourceType": "MedicationDispense", "id": "disp-1", "status": "completed",
             "subject": {"reference": PATIENT}, "whenHandedOver": "yesterday",
             "medicationCodeableConcept": {"text": "苯磺酸氨氯地平片"}})


def _bad_related_person(b: Bundle) -> None:
    _add(b, {"resourceType": "RelatedPerson", "id": "mother", "patient": {"reference": PATIENT},
             "birthDate": "1990-13-45"})


@pytest.mark.parametrize(("name", "damage", "reference", "rule_id"), [
    ("Condition", _break_condition, "Condition/cond-ex-clean-htn-0", "diagnosis.not_confirmed"),
    ("Encounter", _break_encounter, "Encounter/enc-ex-clean-htn", "visit.not_follow_up"),
    ("AllergyIntolerance", _bad_allergy, "AllergyIntolerance/allergy-1", "allergy.match"),
    ("MedicationDispense", _bad_dispense, "MedicationDispense/disp-1", "dispensing.before_prescription"),
])
def test_an_unreadable_fact_that_is_needed_is_noted_is_evidence_and_blocks(
        pharmacy: Pharmacy, name: str, damage: Callable[[Bundle], None], reference: str, rule_id: str) -> None:
    number = f"RXBAD-{name.upper()}"
    bundle = _bundle(number)
    damage(bundle)

    snapshot = _one(bundle)
    notes = [n for n in snapshot.intake_notes if n.startswith(f"{reference} 无法读取 / could not be read: ")]
    assert len(notes) == 1, snapshot.intake_notes
    assert [u.reference for u in snapshot.unreadable] == [reference]
    assert snapshot.unreadable[0].resource_type == name and snapshot.unreadable[0].reason in notes[0]

    ws = pharmacy.ws
    report = ws.intake.ingest(_raw(bundle), f"test:{number}")
    assert report.outcome == "stored", report  # the prescription is kept, not quarantined
    result = ws.reviewer().review(snapshot, datetime.now(UTC))
    blocking = [f for f in result.findings if f.rule_id == rule_id]
    assert blocking and all(f.severity is Severity.BLOCK for f in blocking), result.findings
    assert all(notes[0] in f.evidence for f in blocking), [f.evidence for f in blocking]
    assert not result.approvable

    claim = ws.claims.claim(pharmacy.pharmacist, number)
    session = ws.signing.begin(pharmacy.pharmacist)
    with pytest.raises(DecisionRefused, match=rule_id.replace(".", r"\.")):
        ws.decisions.approve(pharmacy.pharmacist, session, number, pin=PIN, password=PASSWORD)
    detail = ws.detail.open(pharmacy.pharmacist, claim.prescription_id)  # what the window shows
    assert notes[0] in detail.intake_notes
    assert any(notes[0] in f.evidence for f in detail.findings["block"])


@pytest.mark.parametrize("damage", [_bad_observation, _bad_related_person])
def test_an_unreadable_fact_that_is_not_needed_is_noted_and_does_not_block(damage: Callable[[Bundle], None]) -> None:
    """An adult's unreadable weight or relative: on the record, shown, but no rule needs it."""
    bundle = _bundle("RXBAD-SPARE")
    damage(bundle)
    snapshot = _one(bundle)
    assert len(snapshot.unreadable) == 1
    assert snapshot.unreadable[0].note in snapshot.intake_notes


def test_the_same_resource_when_valid_leaves_no_note() -> None:
    bundle = _bundle("RXGOOD")
    _add(bundle, {"resourceType": "AllergyIntolerance", "id": "allergy-1", "patient": {"reference": PATIENT},
                  "code": {"text": "青霉素"}})
    snapshot = _one(bundle)
    assert snapshot.unreadable == () and not any("could not be read" in n for n in snapshot.intake_notes)
    assert [a.substance.text for a in snapshot.patient.allergies] == ["青霉素"]


def test_another_patients_unreadable_resource_is_not_this_ones() -> None:
    bundle = _bundle("RXOTHER")
    _add(bundle, {"resourceType": "Patient", "id": "someone-else", "birthDate": "1970-01-01"})
    _add(bundle, {"resourceType": "AllergyIntolerance", "id": "allergy-x", "patient": {"reference": "Patient/someone-else"},
                  "code": {"text": "青霉素"}, "recordedDate": "上周"})
    assert _one(bundle).unreadable == ()
    bundle["entry"][-1]["resource"]["patient"] = {"reference": PATIENT}  # the same record, this patient's
    assert [u.reference for u in _one(bundle).unreadable] == ["AllergyIntolerance/allergy-x"]


def test_an_unreadable_resource_whose_patient_cannot_be_read_counts_as_this_ones() -> None:
    """Fail closed: an allergy record with no readable link to a patient may be this patient's."""
    bundle = _bundle("RXNOLINK")
    _add(bundle, {"resourceType": "AllergyIntolerance", "id": "allergy-y", "patient": "Patient/pat-ex-clean-htn",
                  "code": {"text": "青霉素"}})
    assert [u.reference for u in _one(bundle).unreadable] == ["AllergyIntolerance/allergy-y"]


def test_a_snapshot_stored_before_the_field_existed_still_reads() -> None:
    from workstation.domain import codec

    snapshot = _one(_bundle("RXOLD"))
    stored = json.loads(codec.dumps(snapshot))
    del stored["unreadable"]
    assert codec.loads(PrescriptionSnapshot, json.dumps(stored)) == snapshot
