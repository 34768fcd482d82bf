"""Decisions: approve only when the rules allow it and every warning is acknowledged; signed, bound, one transaction."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.conftest import PASSWORD, PIN, Pharmacy
from workstation.adapters import approval
from workstation.adapters.db import orm
from workstation.adapters.pki import WrongPin
from workstation.domain.errors import DomainError
from workstation.services import audit
from workstation.services.decisions import DecisionRefused
from workstation.services.signing import ClockSkew, PasswordRequired, SigningService


def _decision(ph: Pharmacy, decision_id: str) -> orm.Decision:
    with ph.ws.uow() as uow:
        row = uow.session.get(orm.Decision, decision_id)
        assert row is not None
        uow.session.expunge(row)  # keep its loaded values past the unit of work's rollback
        return row


def test_an_approval_is_signed_bound_to_the_content_and_queued_for_both_targets(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXAPPROVE1")
    decision_id = pharmacy.approve("RXAPPROVE1")
    row = _decision(pharmacy, decision_id)
    statement = json.loads(row.statement or "")
    assert set(statement) == {"prescription", "version", "content_sha256", "decision", "acknowledged",
                              "pharmacist_licence", "signed_at"}
    assert (statement["prescription"], statement["version"], statement["decision"], statement["pharmacist_licence"]) == (
        "RXAPPROVE1", 1, "approve", "PH0001")
    assert statement["signed_at"].endswith("+08:00")
    verified = approval.verify_approval_jws(row.signature_jws or "", pharmacy.ws.release_anchors())
    assert verified.statement == statement
    with pharmacy.ws.uow() as uow:
        prescription = uow.session.get(orm.Prescription, row.prescription_id)
        assert prescription is not None and prescription.status == "approved"
        assert statement["content_sha256"] == prescription.content_sha256
        targets = uow.session.scalars(select(orm.Outbox.target).where(orm.Outbox.decision_id == decision_id)).all()
        assert sorted(targets) == ["delivery", "dispensing"]
        assert uow.session.get(orm.Claim, row.prescription_id) is None  # the claim ends with the decision
    provenance = json.loads(row.provenance or "")
    sig = provenance["signature"][0]
    assert sig["type"][0]["code"] == "1.2.840.10065.1.12.1.5" and sig["sigFormat"] == "application/jose"
    assert base64.b64decode(sig["data"]).decode("ascii") == row.signature_jws
    assert audit.verify(pharmacy.ws.uow()).broken is None


def test_a_blocking_finding_refuses_the_approval_and_nothing_is_stored(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXOLD", authored=datetime.now(UTC) - timedelta(days=5))  # past its validity
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXOLD")
    session = pharmacy.ws.signing.begin(pharmacy.pharmacist)
    with pytest.raises(DecisionRefused, match="blocking findings") as refused:
        pharmacy.ws.decisions.approve(pharmacy.pharmacist, session, "RXOLD", pin=PIN, password=PASSWORD)
    assert "validity.expired" in {f.rule_id for f in refused.value.findings}
    with pharmacy.ws.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(orm.Decision)) == 0
        assert uow.session.scalar(select(func.count()).select_from(orm.Outbox)) == 0
    info = pharmacy.ws.decisions.reject(pharmacy.pharmacist, "RXOLD", code="资料不全", comment="处方已过有效期")
    row = _decision(pharmacy, info.id)
    assert (row.kind, row.reason_code, row.release_status) == ("reject", "incomplete", "not_released")
    assert "validity.expired" in row.findings and row.rule_set_version
    with pytest.raises(DecisionRefused, match="no further decision"):
        pharmacy.ws.decisions.reject(pharmacy.pharmacist, "RXOLD", code="other", comment="again")


def test_every_warning_needs_an_acknowledgement_with_a_reason(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXWARN", supply_days=14, note="患者行动不便，病情稳定")  # over 7 days, with the reason
    result = pharmacy.ws.decisions.review(pharmacy.pharmacist, "RXWARN")
    warns = sorted({f.rule_id for f in result.findings})
    assert warns == ["supply.over_limit_justified"] and result.approvable
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXWARN")
    session = pharmacy.ws.signing.begin(pharmacy.pharmacist)
    with pytest.raises(DecisionRefused, match="acknowledgement"):
        pharmacy.ws.decisions.approve(pharmacy.pharmacist, session, "RXWARN", pin=PIN, password=PASSWORD)
    with pytest.raises(DecisionRefused, match="did not warn"):
        pharmacy.ws.decisions.approve(pharmacy.pharmacist, session, "RXWARN", pin=PIN, password=PASSWORD,
                                      acknowledged={**{w: "已与开方医师确认" for w in warns}, "items.too_many": "x"})
    info = pharmacy.ws.decisions.approve(pharmacy.pharmacist, session, "RXWARN", pin=PIN, password=PASSWORD,
                                         acknowledged={w: "已与开方医师确认 / confirmed with the prescriber" for w in warns})
    statement = json.loads(_decision(pharmacy, info.id).statement or "")
    assert statement["acknowledged"] == {w: "已与开方医师确认 / confirmed with the prescriber" for w in warns}


def test_the_continuous_session_rule(pharmacy: Pharmacy) -> None:
    now = [pharmacy.ws.signing._clock()]
    signing = SigningService(pharmacy.ws.uow, pharmacy.ws.accounts, clock=lambda: now[0], server_clock=lambda: now[0])
    session = signing.begin(pharmacy.pharmacist)
    with pytest.raises(PasswordRequired):
        signing.signer(session, pin=PIN)  # the first signature of a session needs the password too
    with pytest.raises(WrongPin):
        signing.signer(session, pin="000000", password=PASSWORD)
    signing.signer(session, pin=PIN, password=PASSWORD)
    signing.signer(session, pin=PIN)  # later ones: the PIN alone
    with pytest.raises(WrongPin):
        signing.signer(session, pin="135790")
    now[0] += timedelta(minutes=9)
    signing.signer(session, pin=PIN)
    now[0] += timedelta(minutes=10, seconds=1)  # idle for more than 10 minutes
    with pytest.raises(PasswordRequired):
        signing.signer(session, pin=PIN)
    signing.signer(session, pin=PIN, password=PASSWORD)
    session.lock()
    with pytest.raises(PasswordRequired):
        signing.signer(session, pin=PIN)


def test_signing_is_refused_when_the_clock_is_more_than_five_minutes_off(pharmacy: Pharmacy) -> None:
    from workstation.adapters.db.types import utcnow

    skewed = SigningService(pharmacy.ws.uow, pharmacy.ws.accounts, clock=lambda: utcnow() + timedelta(minutes=6))
    session = skewed.begin(pharmacy.pharmacist)
    with pytest.raises(ClockSkew, match="over 5 minutes"):
        skewed.signer(session, pin=PIN, password=PASSWORD)
    warned = SigningService(pharmacy.ws.uow, pharmacy.ws.accounts, clock=lambda: utcnow() - timedelta(seconds=90))
    session = warned.begin(pharmacy.pharmacist)
    warned.signer(session, pin=PIN, password=PASSWORD)
    assert session.clock_warning and "90 s" in session.clock_warning.replace("89 s", "90 s").replace("91 s", "90 s")


def test_a_signature_copied_onto_another_decision_fails_verification(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXCOPY1")
    pharmacy.receive("RXCOPY2")
    first, second = pharmacy.approve("RXCOPY1"), pharmacy.approve("RXCOPY2")
    a, b = _decision(pharmacy, first), _decision(pharmacy, second)
    with pharmacy.ws.uow() as uow:
        mrs = [json.loads(i.resource_json) for i in uow.session.scalars(select(orm.PrescriptionItem).where(
            orm.PrescriptionItem.prescription_id == b.prescription_id).order_by(orm.PrescriptionItem.position))]
    stolen = json.loads(a.provenance or "")
    stolen["target"] = [{"reference": f"MedicationRequest/{m['id']}"} for m in mrs]
    bundle = approval.dispensing_bundle(mrs, stolen, decision_id=b.id, timestamp="2026-06-01T10:00:00+08:00")
    with pytest.raises(approval.ReleaseVerificationError):
        approval.verify_dispensing_bundle(bundle, pharmacy.ws.release_anchors())


def test_the_database_refuses_an_approval_without_a_signature(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXNOSIG")
    with pharmacy.ws.uow() as uow:
        pid = uow.session.scalar(select(orm.Prescription.id).where(orm.Prescription.number == "RXNOSIG"))
        with pytest.raises(Exception, match="(?i)check|constraint"):
            uow.session.execute(text(
                "INSERT INTO decision (id, prescription_id, prescription_number, version, content_sha256, pharmacist_id,"
                " kind, acknowledged, findings, rule_set_version, decided_at, release_status) VALUES ('x', :p, 'RXNOSIG',"
                " 1, 'x', :ph, 'approve', '{}', '[]', 'v', CURRENT_TIMESTAMP, 'pending')"),
                {"p": pid, "ph": pharmacy.pharmacist.pharmacist_id})


def test_a_crash_before_commit_leaves_nothing_half_stored(pharmacy: Pharmacy, monkeypatch: pytest.MonkeyPatch) -> None:
    pharmacy.receive("RXCRASH")
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXCRASH")
    session = pharmacy.ws.signing.begin(pharmacy.pharmacist)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")  # after the decision and outbox rows were added, before the commit

    monkeypatch.setattr("workstation.services.decisions.DecisionService._close", boom)
    with pytest.raises(RuntimeError):
        pharmacy.ws.decisions.approve(pharmacy.pharmacist, session, "RXCRASH", pin=PIN, password=PASSWORD)
    monkeypatch.undo()
    with pharmacy.ws.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(orm.Decision)) == 0
        assert uow.session.scalar(select(func.count()).select_from(orm.Outbox)) == 0
        status = uow.session.scalar(select(orm.Prescription.status).where(orm.Prescription.number == "RXCRASH"))
    assert status == "received"  # still in the queue, still claimed: the pharmacist can simply sign again
    assert pharmacy.ws.decisions.approve(pharmacy.pharmacist, session, "RXCRASH", pin=PIN).kind == "approve"


def test_unknown_reason_codes_are_refused_with_the_valid_ones(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXREASON")
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXREASON")
    with pytest.raises(DomainError, match="diagnosis_mismatch"):
        pharmacy.ws.decisions.return_to_prescriber(pharmacy.pharmacist, "RXREASON", code="bad", comment="x")
    info = pharmacy.ws.decisions.return_to_prescriber(pharmacy.pharmacist, "RXREASON", code="dose_inappropriate",
                                                      comment="剂量偏大，请核实")
    assert info.kind == "return"


def test_an_imported_ca_issued_credential_signs_approvals_that_verify_against_its_root(
        tmp_path: Path, database_url: str, memory_keyring: object, fast_kdfs: None) -> None:
    """A real deployment: the pharmacist's certificate comes from an outside CA as PKCS#12."""
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, load_pem_private_key, pkcs12

    from tests.support import PKI, SHARED, signed_prescription
    from workstation.adapters.pki import certificates_from_pem
    from workstation.bootstrap import open_workstation
    from workstation.domain.accounts import Principal, Role
    from workstation.services import formulary
    from workstation.settings import load_settings

    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "settings.toml").write_text(f'[release]\ntrust_anchors = ["{PKI / "ca.pem"}"]\n', encoding="utf-8")
    ws = open_workstation(load_settings({"RXWS_CONFIG_DIR": str(cfg), "RXWS_DATA_DIR": str(tmp_path / "d"),
                                         "RXWS_DATABASE_URL": database_url, "RXWS_TRUST": str(PKI / "ca.pem")}))
    try:
        formulary.import_formulary(ws.uow(), (SHARED / "examples" / "formulary.csv").read_bytes(), "f.csv", actor="t")
        admin = Principal.system("it")
        licence = "110310000654321"  # the certificate's subject serialNumber
        ws.accounts.add(admin, name="李晓梅", licence=licence, roles=frozenset({Role.PHARMACIST}), password=PASSWORD)
        key = load_pem_private_key((PKI / "physician-li.key.pem").read_bytes(), None)
        chain = certificates_from_pem((PKI / "physician-li.pem").read_bytes() + (PKI / "ca.pem").read_bytes())
        p12 = tmp_path / "li.p12"
        p12.write_bytes(pkcs12.serialize_key_and_certificates(b"li", key, chain[0], chain[1:],  # type: ignore[arg-type]
                                                              BestAvailableEncryption(b"file-pass")))
        with pytest.raises(DomainError):
            ws.signing.import_credential(admin, licence, password=PASSWORD, pin=PIN, files=[p12], file_password="wrong")
        cred = ws.signing.import_credential(admin, licence, password=PASSWORD, pin=PIN, files=[p12],
                                            file_password="file-pass")
        assert cred.source == "imported" and "RXWS Test CA" in cred.issuer
        assert ws.signing.ca_certificate() is None  # no local CA was needed
        me = ws.accounts.authenticate(licence, PASSWORD)
        ws.intake.ingest(signed_prescription("RXIMPORT", datetime.now(UTC)), "t")
        ws.claims.claim(me, "RXIMPORT")
        info = ws.decisions.approve(me, ws.signing.begin(me), "RXIMPORT", pin=PIN, password=PASSWORD)
        with ws.uow() as uow:
            jws = uow.session.scalar(select(orm.Decision.signature_jws).where(orm.Decision.id == info.id))
        assert approval.verify_approval_jws(jws or "", ws.release_anchors()).statement["pharmacist_licence"] == licence
    finally:
        ws.close()


def test_the_pharmacy_ca_is_not_created_without_a_secure_keyring(pharmacy: Pharmacy) -> None:
    import keyring
    from keyring.backends import fail

    from workstation.adapters.secrets import SecretStoreError
    from workstation.services.signing import SigningService

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        fresh = SigningService(pharmacy.ws.uow, pharmacy.ws.accounts)
        with pharmacy.ws.uow() as uow:  # as on a machine where no CA was made yet
            uow.session.execute(text("UPDATE pharmacy_ca SET active = false"))
            uow.commit()
        with pytest.raises(SecretStoreError, match="secure OS keyring"):
            fresh.ensure_ca(pharmacy.admin)
    finally:
        keyring.set_keyring(before)


def test_no_delivery_address_refuses_the_approval_before_anything_is_signed(pharmacy: Pharmacy) -> None:
    import copy

    from tests.support import signed_prescription

    raw = json.loads(signed_prescription("RXNOADDR", datetime.now(UTC)))
    for entry in raw["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"].pop("address", None)
    report = pharmacy.ws.intake.ingest(json.dumps(copy.deepcopy(raw), ensure_ascii=False).encode("utf-8"), "t")
    assert report.outcome == "stored"
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXNOADDR")
    with pytest.raises(DecisionRefused, match="delivery address"):
        pharmacy.ws.decisions.approve(pharmacy.pharmacist, pharmacy.ws.signing.begin(pharmacy.pharmacist), "RXNOADDR",
                                      pin=PIN, password=PASSWORD)


def test_a_resubmission_after_a_decision_never_rewrites_it_and_says_so(pharmacy: Pharmacy) -> None:
    pharmacy.receive("RXRESUB")
    decision_id = pharmacy.approve("RXRESUB")
    pharmacy.receive("RXRESUB", quantity=14)  # the internet hospital sends a changed version afterwards
    with pharmacy.ws.uow() as uow:
        rows = uow.session.execute(select(orm.Prescription.version, orm.Prescription.status, orm.Prescription.intake_notes)
                                   .where(orm.Prescription.number == "RXRESUB").order_by(orm.Prescription.version)).all()
    assert [(v, s) for v, s, _ in rows] == [(1, "approved"), (2, "received")]
    assert "version 1 was already approved" in rows[1][2]
    assert _decision(pharmacy, decision_id).release_status == "pending"  # the approval and its release stand


def test_an_imported_credential_without_its_trust_anchor_names_the_setting(tmp_path: Path, database_url: str,
                                                                          memory_keyring: object) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from tests.support import PKI, SHARED, signed_prescription
    from workstation.adapters.pki import certificates_from_pem
    from workstation.bootstrap import open_workstation
    from workstation.domain.accounts import Principal, Role
    from workstation.services import formulary
    from workstation.settings import load_settings

    # [release] trust_anchors left out: the receivers would not trust this pharmacist's CA.
    ws = open_workstation(load_settings({"RXWS_CONFIG_DIR": str(tmp_path / "cfg"), "RXWS_DATA_DIR": str(tmp_path / "d"),
                                         "RXWS_DATABASE_URL": database_url, "RXWS_TRUST": str(PKI / "ca.pem")}))
    try:
        formulary.import_formulary(ws.uow(), (SHARED / "examples" / "formulary.csv").read_bytes(), "f.csv", actor="t")
        admin = Principal.system("it")
        licence = "110310000654321"
        ws.accounts.add(admin, name="李晓梅", licence=licence, roles=frozenset({Role.PHARMACIST}), password=PASSWORD)
        key_file, cert_file = tmp_path / "li.key.pem", tmp_path / "li.pem"
        key_file.write_bytes((PKI / "physician-li.key.pem").read_bytes())
        cert_file.write_bytes((PKI / "physician-li.pem").read_bytes() + (PKI / "ca.pem").read_bytes())
        ws.signing.import_credential(admin, licence, password=PASSWORD, pin=PIN, files=[key_file, cert_file],
                                     file_password=None)
        assert not ws.signing.chains_to(licence, ws.release_anchors())
        assert ws.signing.chains_to(licence, tuple(certificates_from_pem((PKI / "ca.pem").read_bytes())))
        assert load_pem_private_key(key_file.read_bytes(), None)  # the file itself is untouched
        me = ws.accounts.authenticate(licence, PASSWORD)
        ws.intake.ingest(signed_prescription("RXNOANCHOR", datetime.now(UTC)), "t")
        ws.claims.claim(me, "RXNOANCHOR")
        with pytest.raises(DecisionRefused, match=r"\[release\] trust_anchors"):
            ws.decisions.approve(me, ws.signing.begin(me), "RXNOANCHOR", pin=PIN, password=PASSWORD)
        with ws.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(orm.Decision)) == 0
    finally:
        ws.close()
