"""Headless look-ups: the audit trail browsed, a quarantine entry shown and taken in again, a claim taken back."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Pharmacy
from tests.support import signed_prescription
from workstation.adapters.db import orm
from workstation.adapters.db.types import utcnow
from workstation.domain.accounts import PermissionDenied
from workstation.services import intake


def _broken_reader(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    def broken(parsed: Any) -> Any:
        raise RuntimeError(message)
    monkeypatch.setattr(intake, "bundle_rows", broken)


def _quarantine_by_reader_bug(pharmacy: Pharmacy, monkeypatch: pytest.MonkeyPatch, number: str) -> int:
    """A bundle quarantined because the reader failed (a bug since fixed): the bundle itself is sound."""
    real = intake.bundle_rows
    _broken_reader(monkeypatch, "reader bug")
    report = pharmacy.ws.intake.ingest(signed_prescription(number, utcnow()), f"test:{number}")
    monkeypatch.setattr(intake, "bundle_rows", real)
    assert report.outcome == "quarantined"
    return report.quarantined[0].quarantine_id


def test_a_quarantined_bundle_is_shown_and_taken_in_again_once_the_cause_is_fixed(
        pharmacy: Pharmacy, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    qid = _quarantine_by_reader_bug(pharmacy, monkeypatch, "RXQREL")
    code, out, _ = cli("quarantine", "show", str(qid))
    assert code == 0 and f"#{qid} (open)" in out and "reader bug" in out and "(Asia/Shanghai)" in out
    code, raw, _ = cli("quarantine", "show", str(qid), "--bytes")
    assert code == 0 and json.loads(raw)["resourceType"] == "Bundle"

    code, out, _ = cli("quarantine", "release", str(qid))
    assert code == 0 and "RXQREL v1 (new)" in out
    assert pharmacy.ws.intake.quarantined(qid).status == "resolved"
    code, out, _ = cli("quarantine", "release", str(qid))
    assert code != 0  # once only
    code, out, _ = cli("audit", "list", "--subject", f"quarantine:{qid}")
    [line] = out.splitlines()
    assert "\tquarantine.released\t" in line and '"outcome":"stored"' in line


def test_a_bundle_refused_again_for_the_same_reason_stays_open(pharmacy: Pharmacy, cli: Any) -> None:
    report = pharmacy.ws.intake.ingest(b'{"resourceType": "Bundle", "type": "collection"}', "test:bad")
    qid = report.quarantined[0].quarantine_id
    code, out, _ = cli("quarantine", "release", str(qid))
    assert code != 0 and "left open" in out
    assert pharmacy.ws.intake.quarantined(qid).status == "open"
    code, out, _ = cli("audit", "list", "--action", "quarantine.")
    assert "quarantine.release_refused" in out

    code, out, err = cli("quarantine", "show", "999999")
    assert code != 0 and "#999999" in err


def test_a_bundle_refused_again_for_a_new_reason_moves_to_a_new_entry(
        pharmacy: Pharmacy, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    qid = _quarantine_by_reader_bug(pharmacy, monkeypatch, "RXQNEW")
    _broken_reader(monkeypatch, "a different bug")
    code, out, _ = cli("quarantine", "release", str(qid))
    moved = re.search(r"now #(\d+)", out)
    assert code != 0 and moved is not None, out
    new_id = int(moved.group(1))
    assert pharmacy.ws.intake.quarantined(qid).status == "resolved"
    new = pharmacy.ws.intake.quarantined(new_id)
    assert new_id != qid and new.status == "open" and "a different bug" in new.reason
    code, out, _ = cli("audit", "list", "--subject", f"quarantine:{qid}")
    assert f'"quarantined_again_as":{new_id}' in out


def test_the_audit_trail_is_browsed_by_subject_action_and_time(pharmacy: Pharmacy, cli: Any) -> None:
    pharmacy.receive("RXAUD1")
    pharmacy.approve("RXAUD1")
    code, out, _ = cli("audit", "list", "--subject", "prescription:RXAUD1")
    actions = [line.split("\t")[3] for line in out.splitlines()]
    assert code == 0 and "decision.approved" in actions and actions == sorted(actions, key=actions.index)
    code, out, _ = cli("audit", "list", "--action", "decision.")
    assert {line.split("\t")[3] for line in out.splitlines()} == {"decision.approved"}
    code, out, _ = cli("audit", "list", "--since", "2999-01-01")
    assert code == 0 and out == ""
    code, out, _ = cli("audit", "list", "--limit", "2")
    assert len(out.splitlines()) == 2
    code, _, err = cli("audit", "list", "--since", "yesterday")
    assert code == 2 and "--since" in err


def test_a_lead_takes_back_a_colleagues_claim(pharmacy: Pharmacy, cli: Any) -> None:
    pharmacy.receive("RXTB1")
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXTB1")
    with pytest.raises(PermissionDenied):
        pharmacy.ws.claims.take_back(pharmacy.pharmacist, "RXTB1", reason="mine now")
    code, out, err = cli("claim", "RXTB1", "--as", "PH0002", "--take-back", "--reason", "李药师下班")
    assert code == 0 and "taken back RXTB1 from PH0001" in out, err
    with pharmacy.ws.uow() as uow:
        assert uow.session.scalars(select(orm.Claim)).all() == []
        released = json.loads(uow.session.scalars(select(orm.AuditEvent.details).where(
            orm.AuditEvent.action == "claim.released")).one())
    assert released["reason"] == "李药师下班"
    code, out, _ = cli("claim", "RXTB1", "--as", "PH0002", "--take-back")
    assert code == 0 and "not claimed" in out
