"""A settings file that loosens the law is on the record of every decision made under it: the decision row,
its audit event, the approval's Provenance and the released message, with the settings file's digest; the
``review.settings_loosened`` event is written at the first decision, not only at the next start."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir.resources.provenance import Provenance
from sqlalchemy import select

from tests.conftest import PASSWORD, PIN, Pharmacy
from tests.support import PKI, SHARED, signed_prescription
from workstation.adapters import approval
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.bootstrap import Workstation, open_workstation
from workstation.cli import main
from workstation.settings import load_settings

REASON = "中药饮片另行审核 / herbal pieces are reviewed separately"
LOOSENED = f'[review.rules."items.too_many"]\nenabled = false\nreason = "{REASON}"\n'


def _loosened_ws(pharmacy: Pharmacy, text: str) -> Workstation:
    """The same pharmacy (database, accounts), started again with ``text`` as its settings file."""
    s = pharmacy.ws.settings
    s.config_dir.mkdir(parents=True, exist_ok=True)
    s.settings_file.write_text(text, encoding="utf-8")
    return open_workstation(load_settings({
        "RXWS_CONFIG_DIR": str(s.config_dir), "RXWS_DATA_DIR": str(s.data_dir),
        "RXWS_DATABASE_URL": s.database_url, "RXWS_TRUST": str(PKI / "ca.pem")}))


@pytest.fixture
def loosened(pharmacy: Pharmacy) -> Iterator[Workstation]:
    ws = _loosened_ws(pharmacy, LOOSENED)
    try:
        yield ws
    finally:
        ws.close()


def _approve(ws: Workstation, pharmacy: Pharmacy, number: str) -> str:
    report = ws.intake.ingest(signed_prescription(number, utcnow()), f"test:{number}")
    assert report.outcome == "stored", report
    ws.claims.claim(pharmacy.pharmacist, number)
    return ws.decisions.approve(pharmacy.pharmacist, ws.signing.begin(pharmacy.pharmacist), number,
                                pin=PIN, password=PASSWORD).id


def _loosening_events(ws: Workstation) -> list[dict[str, object]]:
    with ws.uow() as uow:
        return [json.loads(d) for d in uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "review.settings_loosened").order_by(orm.AuditEvent.id))]


def _digest(pharmacy: Pharmacy) -> str:
    return hashlib.sha256(pharmacy.ws.settings.settings_file.read_bytes()).hexdigest()


def test_an_approval_under_loosened_settings_carries_them_everywhere(pharmacy: Pharmacy, loosened: Workstation) -> None:
    decision_id = _approve(loosened, pharmacy, "RXLOOSE1")
    expected = [{"setting": "rule items.too_many disabled", "reason": REASON, "settings_sha256": _digest(pharmacy)}]
    with loosened.uow() as uow:
        row = uow.session.get_one(orm.Decision, decision_id)
        stored, provenance_json, prescription_id = json.loads(row.settings_loosened), row.provenance, row.prescription_id
        approved = json.loads(uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "decision.approved")).one())
    assert stored == expected
    assert approved["settings_loosened"] == expected
    # At this first use, not at a start: no `rxws start` ran under this file.
    assert _loosening_events(loosened) == [{"change": "rule items.too_many disabled", "reason": REASON,
                                            "settings_file": str(pharmacy.ws.settings.settings_file),
                                            "settings_sha256": _digest(pharmacy)}]
    assert provenance_json is not None
    provenance = json.loads(provenance_json)
    Provenance.model_validate(provenance)  # still valid FHIR R4
    [extension] = provenance["extension"]
    assert extension["url"] == approval.LOOSENED_EXTENSION
    assert {e["url"]: e["valueString"] for e in extension["extension"]} == {
        "setting": "rule items.too_many disabled", "reason": REASON, "settingsSha256": _digest(pharmacy)}
    # The released message is built from the stored Provenance: it carries the loosening too.
    with loosened.uow() as uow:
        mrs = [json.loads(i.resource_json) for i in uow.session.scalars(select(orm.PrescriptionItem).where(
            orm.PrescriptionItem.prescription_id == prescription_id).order_by(orm.PrescriptionItem.position))]
    bundle = approval.dispensing_bundle(mrs, provenance, decision_id=decision_id, timestamp="2026-12-06T10:00:00+08:00")
    assert bundle["entry"][-1]["resource"]["extension"] == provenance["extension"]
    # …and `rxws verify` says so beside the verified signature.
    [checked] = approval.verify_dispensing_bundle(bundle, loosened.release_anchors()).approvals
    assert checked.loosened == (f"rule items.too_many disabled: {REASON} (settings sha256 {_digest(pharmacy)[:12]}…)",)
    assert "review settings loosened" in checked.describe("Asia/Shanghai")


def test_the_loosening_is_audited_once_per_settings_file_and_rejections_carry_it(
        pharmacy: Pharmacy, loosened: Workstation) -> None:
    _approve(loosened, pharmacy, "RXLOOSE2")
    _approve(loosened, pharmacy, "RXLOOSE3")
    assert len(_loosening_events(loosened)) == 1  # the same file: recorded once
    report = loosened.intake.ingest(signed_prescription("RXLOOSE4", utcnow()), "test:RXLOOSE4")
    assert report.outcome == "stored"
    loosened.claims.claim(pharmacy.pharmacist, "RXLOOSE4")
    rejected = loosened.decisions.reject(pharmacy.pharmacist, "RXLOOSE4", code="incomplete", comment="缺少过敏史")
    with loosened.uow() as uow:
        assert json.loads(uow.session.get_one(orm.Decision, rejected.id).settings_loosened)[0]["reason"] == REASON

    changed = _loosened_ws(pharmacy, LOOSENED.replace("另行审核", "由中药房审核"))
    try:
        _approve(changed, pharmacy, "RXLOOSE5")
        events = _loosening_events(changed)
        assert len(events) == 2 and events[1]["settings_sha256"] == _digest(pharmacy)
    finally:
        changed.close()


def test_a_decision_under_the_law_records_no_loosening(pharmacy: Pharmacy) -> None:
    decision_id = _approve(pharmacy.ws, pharmacy, "RXLAW1")
    with pharmacy.ws.uow() as uow:
        row = uow.session.get_one(orm.Decision, decision_id)
        assert row.settings_loosened == "[]" and "extension" not in json.loads(row.provenance or "{}")
    assert _loosening_events(pharmacy.ws) == []


def test_check_under_loosened_settings_says_so_in_its_output_and_audits_the_first_use(
        pharmacy: Pharmacy, loosened: Workstation, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    s = loosened.settings
    for key, value in {"RXWS_CONFIG_DIR": str(s.config_dir), "RXWS_DATA_DIR": str(s.data_dir),
                       "RXWS_DATABASE_URL": s.database_url, "RXWS_TRUST": str(PKI / "ca.pem")}.items():
        monkeypatch.setenv(key, value)
    example = SHARED / "examples" / "ex-clean-htn.json"
    code = main(["check", "--json", "--at", "2026-06-01T10:00:00+08:00", str(example)])
    out = capsys.readouterr().out
    assert code == 0
    [line] = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert line["settings_loosened"] == [{"setting": "rule items.too_many disabled", "reason": REASON,
                                          "settings_sha256": _digest(pharmacy)}]
    assert len(_loosening_events(loosened)) == 1
    assert main(["check", "--at", "2026-06-01T10:00:00+08:00", str(example)]) == 0
    text = capsys.readouterr().out
    assert "judged under loosened settings: rule items.too_many disabled" in text and _digest(pharmacy) in text
    assert len(_loosening_events(loosened)) == 1


def test_settings_record_the_digest_of_the_file_they_were_read_from(tmp_path: Path) -> None:
    env = {"RXWS_CONFIG_DIR": str(tmp_path), "RXWS_DATA_DIR": str(tmp_path / "d")}
    assert load_settings(env).settings_sha256 is None
    (tmp_path / "settings.toml").write_text(LOOSENED, encoding="utf-8")
    assert load_settings(env).settings_sha256 == hashlib.sha256(LOOSENED.encode("utf-8")).hexdigest()
