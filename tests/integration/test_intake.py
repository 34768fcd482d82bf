"""Intake end to end on a real database (SQLite and PostgreSQL): storage, versions, quarantine, audit."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from tests.support import example_paths, external_paths
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation
from workstation.domain import codec
from workstation.domain.prescription import PrescriberKind, PrescriptionSnapshot
from workstation.services import audit


def _count(ws: Workstation, model: type[Any]) -> int:
    with ws.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def _load(name: str) -> dict[str, Any]:
    path = next(p for p in example_paths() if p.name == name)
    return json.loads(path.read_bytes())


def _bytes(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, ensure_ascii=False).encode("utf-8")


def _resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _snapshot(ws: Workstation, number: str, version: int = 1) -> PrescriptionSnapshot:
    with ws.uow() as uow:
        row = uow.session.scalars(select(orm.Prescription).where(
            orm.Prescription.number == number, orm.Prescription.version == version)).one()
        return codec.loads(PrescriptionSnapshot, row.snapshot)


def test_every_shared_example_is_stored_without_quarantine(ws: Workstation) -> None:
    for path in example_paths():
        raw = path.read_bytes()
        report = ws.intake.ingest(raw, f"file:{path.name}")
        assert report.outcome == "stored", (path.name, report.quarantined)
        assert len(report.stored) == 1
    assert _count(ws, orm.Prescription) == len(example_paths())
    assert _count(ws, orm.Quarantine) == 0
    with ws.uow() as uow:
        payload = uow.session.scalars(select(orm.FhirPayload).where(orm.FhirPayload.source == "file:ex-clean-htn.json")).one()
        assert payload.content == (example_paths()[0].parent / "ex-clean-htn.json").read_bytes()  # verbatim


def test_snapshot_facts_of_the_clean_example(ws: Workstation) -> None:
    ws.intake.ingest((example_paths()[0].parent / "ex-clean-htn.json").read_bytes(), "t")
    snap = _snapshot(ws, "RXEXCLEANHTN")
    assert [i.fhir_id for i in snap.items] == ["mr-ex-clean-htn-0", "mr-ex-clean-htn-1"]
    assert snap.patient.name == "张三" and snap.patient.birth_date is not None
    assert snap.patient.masked_identifier == "110101********1234"
    assert snap.prescriber.kind is PrescriberKind.PRACTITIONER and snap.prescriber.licence == "110310000123456"
    assert snap.encounter is not None and snap.encounter.is_follow_up
    assert {d.code for d in snap.diagnoses if d.confirmed} == {"I10", "E11.900"}
    assert all(d.institution == "上海市第一人民医院" and d.source_document_type == "outpatient-record" for d in snap.diagnoses)
    assert snap.signature is not None and snap.signature.jws and snap.signature.jws.count(".") == 2
    assert set(snap.signature.target_ids) == {"mr-ex-clean-htn-0", "mr-ex-clean-htn-1"}
    item = snap.items[1]
    assert item.timing_code == "BID" and str(item.quantity_value) == "14" and str(item.supply_days) == "7"
    assert snap.intake_notes == ()
    with ws.uow() as uow:
        patient = uow.session.scalars(select(orm.Patient)).one()
        assert {d.code for d in patient.diagnoses} == {"I10", "E11.900"}


def test_child_example_keeps_guardian_and_accompanying_physician(ws: Workstation) -> None:
    ws.intake.ingest((example_paths()[0].parent / "ex-child-ok.json").read_bytes(), "t")
    snap = _snapshot(ws, "RXEXCHILDOK")
    roles = {p.role for p in snap.encounter.participants} if snap.encounter else set()
    assert {"guardian", "accompanying_physician"} <= roles
    assert any(r.is_guardian for r in snap.related_persons)
    with ws.uow() as uow:
        assert uow.session.scalars(select(orm.RelatedPerson).where(orm.RelatedPerson.is_guardian.is_(True))).first()


def test_same_prescription_twice_is_stored_once(ws: Workstation) -> None:
    raw = (example_paths()[0].parent / "ex-clean-htn.json").read_bytes()
    first = ws.intake.ingest(raw, "a")
    # The same prescription re-sent in a differently formatted bundle (other bytes, same content).
    second = ws.intake.ingest(json.dumps(json.loads(raw), indent=1).encode(), "b")
    assert first.outcome == "stored" and second.outcome == "duplicate"
    assert second.duplicates[0].version == 1
    assert _count(ws, orm.Prescription) == 1
    assert _count(ws, orm.PrescriptionItem) == 2
    assert _count(ws, orm.Diagnosis) == 2  # history is not duplicated either


def test_changed_resubmission_becomes_a_new_version_and_keeps_the_old(ws: Workstation) -> None:
    bundle = _load("ex-clean-htn.json")
    ws.intake.ingest(_bytes(bundle), "v1")
    changed = copy.deepcopy(bundle)
    _resources(changed, "MedicationRequest")[0]["dispenseRequest"]["quantity"]["value"] = 14
    report = ws.intake.ingest(_bytes(changed), "v2")
    assert [(p.number, p.version, p.outcome) for p in report.prescriptions] == [("RXEXCLEANHTN", 2, "new_version")]
    with ws.uow() as uow:
        rows = uow.session.scalars(select(orm.Prescription).order_by(orm.Prescription.version)).all()
        assert [(r.version, r.status) for r in rows] == [(1, "superseded"), (2, "received")]
        assert rows[0].superseded_at is not None and rows[0].content_sha256 != rows[1].content_sha256
    # Sending the first version again is not a duplicate of the newest one: it is recorded as version 3.
    again = ws.intake.ingest(_bytes(bundle), "v1-again")
    assert again.prescriptions[0].version == 3


def test_external_synthea_bundles_are_read_and_every_request_is_kept(ws: Workstation) -> None:
    total_requests = 0
    for path in external_paths():
        raw = path.read_bytes()
        n_requests = sum(1 for e in json.loads(raw)["entry"] if e["resource"]["resourceType"] == "MedicationRequest")
        total_requests += n_requests
        report = ws.intake.ingest(raw, f"file:{path.name}")
        assert not report.quarantined, (path.name, report.quarantined[:1])
        assert len(report.prescriptions) == n_requests
    assert _count(ws, orm.Prescription) == total_requests
    # Plain R4 proves no follow-up, no signature and no licence: those are facts for the rules, not errors.
    with ws.uow() as uow:
        row = uow.session.scalars(select(orm.Prescription).limit(1)).one()
        snap = codec.loads(PrescriptionSnapshot, row.snapshot)
    assert snap.signature is None and snap.prescriber.licence is None


BAD_INPUTS: dict[str, bytes] = {
    "not JSON": b"this is not json {",
    "not UTF-8": '{"resourceType": "Bundle", "type": "collection", "entry": []}'.encode("utf-16"),
    "latin-1 bytes": b'{"resourceType": "Bundle", "id": "caf\xe9"}',
    "empty": b"",
    "JSON array": b"[1, 2, 3]",
    "no resourceType": b'{"type": "collection"}',
    "not a Bundle": b'{"resourceType": "Patient", "id": "p"}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "nested inside a bundle": b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'
                              + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}",
    "entry not an array": b'{"resourceType": "Bundle", "type": "collection", "entry": {"resource": {}}}',
    "invalid bundle type": b'{"resourceType": "Bundle", "type": 12, "entry": []}',
    "bundle without prescriptions": b'{"resourceType": "Bundle", "type": "collection", "entry": []}',
    "NaN": b'{"resourceType": "Bundle", "type": "collection", "total": NaN}',
    "huge integer": b'{"resourceType": "Bundle", "type": "collection", "total": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("label", sorted(BAD_INPUTS))
def test_bad_input_is_quarantined_with_a_reason_and_nothing_else_stored(ws: Workstation, label: str) -> None:
    report = ws.intake.ingest(BAD_INPUTS[label], f"bad:{label}")
    assert report.outcome == "quarantined"
    assert len(report.quarantined) == 1 and report.quarantined[0].number is None
    assert len(report.quarantined[0].reason) > 10
    assert _count(ws, orm.Prescription) == 0 and _count(ws, orm.Patient) == 0
    with ws.uow() as uow:
        q = uow.session.scalars(select(orm.Quarantine)).one()
        payload = uow.session.get(orm.FhirPayload, q.payload_id)
        assert payload is not None and payload.content == BAD_INPUTS[label]  # nothing lost
        log = uow.session.scalars(select(orm.IntakeLog)).one()
        assert log.outcome == "quarantined" and log.quarantined == 1
        assert uow.session.scalars(select(orm.AuditEvent.action)).all() == ["intake.quarantined"]


def test_reasons_name_the_problem(ws: Workstation) -> None:
    def reason(raw: bytes) -> str:
        return ws.intake.ingest(raw, "t").quarantined[0].reason

    assert "UTF-8" in reason(BAD_INPUTS["latin-1 bytes"]) and "offset" in reason(BAD_INPUTS["latin-1 bytes"])
    assert "line 1 column" in reason(BAD_INPUTS["not JSON"])
    assert "'Patient'" in reason(BAD_INPUTS["not a Bundle"])
    assert "nested" in reason(BAD_INPUTS["deeply nested"])


def test_oversized_file_is_quarantined_and_only_its_head_kept(ws: Workstation) -> None:
    bundle = _load("ex-clean-htn.json")
    bundle["entry"][0]["resource"]["address"][0]["text"] = "长" * (17 * 1024 * 1024)  # ~51 MB of UTF-8
    raw = _bytes(bundle)
    assert len(raw) > 50 * 1024 * 1024
    report = ws.intake.ingest(raw, "big")
    assert report.outcome == "quarantined" and "too large" in report.quarantined[0].reason
    with ws.uow() as uow:
        payload = uow.session.scalars(select(orm.FhirPayload)).one()
        assert payload.truncated and payload.size == len(raw) and raw.startswith(payload.content)


def _mixed_bundle() -> dict[str, Any]:
    good, bad = _load("ex-clean-htn.json"), _load("ex-narcotic.json")
    _resources(bad, "MedicationRequest")[0]["status"] = 17  # wrong type: invalid FHIR
    return {**good, "entry": good["entry"] + bad["entry"]}


def test_mixed_bundle_stores_the_good_prescription_and_quarantines_the_bad(ws: Workstation) -> None:
    report = ws.intake.ingest(_bytes(_mixed_bundle()), "mixed")
    assert report.outcome == "partial"
    assert [p.number for p in report.stored] == ["RXEXCLEANHTN"]
    assert [q.number for q in report.quarantined] == ["RXEXNARCOTIC"]
    assert "status" in report.quarantined[0].reason
    assert _count(ws, orm.Prescription) == 1 and _count(ws, orm.PrescriptionItem) == 2
    with ws.uow() as uow:
        assert uow.session.scalars(select(orm.Quarantine.prescription_number)).all() == ["RXEXNARCOTIC"]


def test_unresolvable_patient_or_drug_is_quarantined(ws: Workstation) -> None:
    no_patient = _load("ex-clean-htn.json")
    no_patient["entry"] = [e for e in no_patient["entry"] if e["resource"]["resourceType"] != "Patient"]
    r1 = ws.intake.ingest(_bytes(no_patient), "no-patient")
    assert r1.outcome == "quarantined" and "patient cannot be resolved" in r1.quarantined[0].reason

    no_drug = _load("ex-first-visit.json")
    mr = _resources(no_drug, "MedicationRequest")[0]
    del mr["medicationCodeableConcept"]
    mr["medicationReference"] = {"reference": "Medication/nowhere"}
    r2 = ws.intake.ingest(_bytes(no_drug), "no-drug")
    assert r2.outcome == "quarantined" and "drug cannot be resolved" in r2.quarantined[0].reason
    assert "Medication/nowhere" in r2.quarantined[0].reason
    assert _count(ws, orm.Prescription) == 0


def test_unresolvable_prescriber_visit_and_diagnosis_are_stored_as_notes(ws: Workstation) -> None:
    bundle = _load("ex-clean-htn.json")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] not in ("Practitioner", "Encounter")]
    mr = _resources(bundle, "MedicationRequest")[0]
    mr["reasonReference"] = [{"reference": "Condition/missing"}]
    report = ws.intake.ingest(_bytes(bundle), "gaps")
    assert report.outcome == "stored"
    snap = _snapshot(ws, "RXEXCLEANHTN")
    assert snap.prescriber.kind is PrescriberKind.UNRESOLVED and snap.encounter is None
    notes = " ".join(snap.intake_notes)
    assert "prescriber cannot be resolved" in notes and "visit cannot be resolved" in notes
    assert "Condition/missing" in notes


def test_intake_writes_a_verifiable_audit_chain(ws: Workstation) -> None:
    for path in example_paths():
        ws.intake.ingest(path.read_bytes(), path.name)
    ws.intake.ingest(b"not json", "bad")
    result = audit.verify(ws.uow())
    assert result.broken is None and result.checked == len(example_paths()) + 1
    with ws.uow() as uow:
        actions = uow.session.scalars(select(orm.AuditEvent.action).order_by(orm.AuditEvent.seq)).all()
    assert actions.count("intake.stored") == len(example_paths()) and actions[-1] == "intake.quarantined"


def test_audit_rows_cannot_be_updated_or_deleted(ws: Workstation) -> None:
    ws.intake.ingest(b"not json", "bad")
    for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
        with ws.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text(statement))
    if ws.engine.dialect.name == "postgresql":
        with ws.engine.connect() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text("TRUNCATE audit_event"))
    assert _count(ws, orm.AuditEvent) == 1


def test_audit_verify_names_the_first_altered_row(ws: Workstation) -> None:
    for path in example_paths()[:4]:
        ws.intake.ingest(path.read_bytes(), path.name)
    # Someone with database-owner rights removes the guard and edits row 2: the chain must say so.
    with ws.engine.begin() as conn:
        if ws.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
        else:
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
        conn.execute(text("UPDATE audit_event SET subject = 'prescription:FORGED' WHERE seq = 2"))
    result = audit.verify(ws.uow())
    assert result.broken is not None and result.broken.seq == 2 and "altered" in result.broken.reason
    assert result.checked == 1


def test_a_database_failure_mid_bundle_leaves_nothing_half_stored(ws: Workstation, monkeypatch: pytest.MonkeyPatch) -> None:
    from workstation.services import intake as intake_module

    original = intake_module._Writer._prescription
    calls = {"n": 0}

    def failing(self: Any, snap: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return original(self, snap, *args)

    monkeypatch.setattr(intake_module._Writer, "_prescription", failing)
    two = _load("ex-clean-htn.json")
    two["entry"] += _load("ex-first-visit.json")["entry"]
    with pytest.raises(OperationalError):
        ws.intake.ingest(_bytes(two), "crash")
    for model in (orm.Prescription, orm.PrescriptionItem, orm.Patient, orm.FhirPayload, orm.IntakeLog, orm.AuditEvent):
        assert _count(ws, model) == 0, model.__name__


def test_a_bug_while_storing_quarantines_the_whole_bundle(ws: Workstation, monkeypatch: pytest.MonkeyPatch) -> None:
    from workstation.services import intake as intake_module

    def broken(self: Any, snap: Any, *args: Any) -> Any:
        raise KeyError("unexpected")

    monkeypatch.setattr(intake_module._Writer, "_prescription", broken)
    report = ws.intake.ingest((example_paths()[0].parent / "ex-clean-htn.json").read_bytes(), "bug")
    assert report.outcome == "quarantined" and "internal error while storing" in report.quarantined[0].reason
    assert _count(ws, orm.Prescription) == 0 and _count(ws, orm.Quarantine) == 1


def test_inbox_moves_files_after_intake(ws: Workstation, tmp_path: Path) -> None:
    from workstation.adapters.inbox import process_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.json").write_bytes((example_paths()[0].parent / "ex-clean-htn.json").read_bytes())
    (inbox / "bad.json").write_bytes(b"{oops")
    (inbox / "mixed.json").write_bytes(_bytes(_mixed_bundle()))
    (inbox / "notes.txt").write_text("ignored")
    outcomes = process_inbox(inbox, ws.intake.ingest_many, settle=0)
    assert sorted(o.path.name for o in outcomes) == ["bad.json", "good.json", "mixed.json"]
    assert (inbox / "processed" / "good.json").exists()
    assert not (inbox / "processed" / "good.json.reason.txt").exists()
    assert (inbox / "rejected" / "bad.json").exists()
    assert "not valid JSON" in (inbox / "rejected" / "bad.json.reason.txt").read_text(encoding="utf-8")
    assert (inbox / "processed" / "mixed.json").exists()
    assert "RXEXNARCOTIC" in (inbox / "processed" / "mixed.json.reason.txt").read_text(encoding="utf-8")
    assert (inbox / "notes.txt").exists() and not list(inbox.glob("*.json"))
    # The same file dropped again is a duplicate and does not overwrite the first copy.
    (inbox / "good.json").write_bytes((example_paths()[0].parent / "ex-clean-htn.json").read_bytes())
    again = process_inbox(inbox, ws.intake.ingest_many, settle=0)
    assert again[0].report is not None and again[0].report.outcome == "duplicate"
    assert len(list((inbox / "processed").glob("good*.json"))) == 2


def test_inbox_leaves_the_file_when_the_database_fails(ws: Workstation, tmp_path: Path) -> None:
    from workstation.adapters.inbox import process_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.json").write_bytes(b"{}")

    def down(items: Any) -> Any:
        for _ in items:
            raise OperationalError("SELECT 1", {}, Exception("database is locked"))
        yield from ()

    with pytest.raises(OperationalError):
        process_inbox(inbox, down, settle=0)
    assert (inbox / "good.json").exists()


def test_ingest_many_isolates_each_bundle_in_a_batch(ws: Workstation, monkeypatch: pytest.MonkeyPatch) -> None:
    from workstation.services import intake as intake_module

    original = intake_module._Writer._prescription

    def buggy(self: Any, snap: Any, *args: Any) -> Any:
        if snap.number == "RXEXFIRSTVISIT":
            raise KeyError("a bug that only this prescription triggers")
        return original(self, snap, *args)

    monkeypatch.setattr(intake_module._Writer, "_prescription", buggy)
    items = [(p.read_bytes(), p.name) for p in example_paths()] + [(b"{broken", "broken.json")]
    reports = list(ws.intake.ingest_many(items, batch_size=3))
    assert [r.source for r in reports] == [name for _, name in items]
    outcome = {r.source: r.outcome for r in reports}
    assert outcome["ex-first-visit.json"] == "quarantined" and outcome["broken.json"] == "quarantined"
    assert sum(o == "stored" for o in outcome.values()) == len(example_paths()) - 1
    with ws.uow() as uow:
        numbers = set(uow.session.scalars(select(orm.Prescription.number)))
    assert "RXEXFIRSTVISIT" not in numbers and len(numbers) == len(example_paths()) - 1
    assert audit.verify(ws.uow()).broken is None  # savepoint rollbacks left no hole in the chain


def test_ingest_many_loses_only_the_uncommitted_batch_when_the_database_fails(
    ws: Workstation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workstation.services import intake as intake_module

    original = intake_module._Writer._prescription

    def failing(self: Any, snap: Any, *args: Any) -> Any:
        if snap.number == "RXEXNARCOTIC":
            raise OperationalError("INSERT", {}, Exception("disk full"))
        return original(self, snap, *args)

    monkeypatch.setattr(intake_module._Writer, "_prescription", failing)
    paths = example_paths()  # ai, child-no-guardian, child-ok, clean-htn | first-visit, narcotic, ...
    committed = []
    with pytest.raises(OperationalError):
        for report in ws.intake.ingest_many([(p.read_bytes(), p.name) for p in paths], batch_size=4):
            committed.append(report.source)
    assert committed == [p.name for p in paths[:4]]  # only what was reported is stored
    assert _count(ws, orm.Prescription) == 4 and _count(ws, orm.IntakeLog) == 4


def test_dispense_records_are_kept_for_the_before_prescription_rule(ws: Workstation) -> None:
    bundle = _load("ex-clean-htn.json")
    bundle["entry"].append({"fullUrl": "MedicationDispense/md-1", "resource": {
        "resourceType": "MedicationDispense", "id": "md-1", "status": "completed",
        "medicationCodeableConcept": {"text": "苯磺酸氨氯地平片"},
        "authorizingPrescription": [{"reference": "MedicationRequest/mr-ex-clean-htn-0"}],
        "whenHandedOver": "2026-05-30T10:00:00+08:00"}})
    assert ws.intake.ingest(_bytes(bundle), "dispensed").outcome == "stored"
    snap = _snapshot(ws, "RXEXCLEANHTN")
    assert [(d.item_fhir_id, d.when_handed_over.isoformat()) for d in snap.dispenses if d.when_handed_over] == [
        ("mr-ex-clean-htn-0", "2026-05-30T10:00:00+08:00")]
    with ws.uow() as uow:
        assert uow.session.scalars(select(orm.DispenseRecord.item_fhir_id)).all() == ["mr-ex-clean-htn-0"]


def test_a_value_longer_than_its_column_is_quarantined_with_its_name_on_both_databases(ws: Workstation) -> None:
    """PostgreSQL would refuse it as a database error (and the inbox retry it forever); SQLite would keep it."""
    import json as _json

    data = _json.loads(example_paths()[0].read_text("utf-8"))
    for entry in data["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["name"] = [{"text": "张" * 300}]
    report = ws.intake.ingest(_json.dumps(data, ensure_ascii=False).encode("utf-8"), "long-name.json")
    assert report.outcome == "quarantined"
    assert "patient.name is 300 characters long, at most 256" in report.quarantined[0].reason
