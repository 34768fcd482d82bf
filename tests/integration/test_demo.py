"""The demo as a new user meets it: made at first start, approvable with no OS keyring, reset, and absent outside demo mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from sqlalchemy import func, select

from resources.demo import generate
from workstation.adapters import secrets
from workstation.adapters.db import orm
from workstation.bootstrap import Workstation, open_workstation
from workstation.cli import main
from workstation.domain.accounts import Principal
from workstation.services import audit, demo, review
from workstation.settings import load_settings

CLEAN = "39-hyperlipidaemia-rosuvastatin.json"


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The machine of the issue: no OS keyring at all."""
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(before)


def _env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, *, demo_mode: bool) -> dict[str, str]:
    values = {"RXWS_CONFIG_DIR": str(tmp_path / "cfg"), "RXWS_DATA_DIR": str(tmp_path / "data"),
              "RXWS_DATABASE_URL": database_url, "RXWS_PASSWORD": demo.DEMO_PASSWORD, "RXWS_PIN": demo.DEMO_PIN}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RXWS_TRUST", raising=False)
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "settings.toml").write_text(f"demo_mode = {'true' if demo_mode else 'false'}\n", encoding="utf-8")
    return values


@pytest.fixture
def demo_env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, no_keyring: None) -> dict[str, str]:
    return _env(tmp_path, database_url, monkeypatch, demo_mode=True)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ws(env: dict[str, str]) -> Workstation:
    return open_workstation(load_settings(env))


def _numbers(ws: Workstation, status: str = "received") -> dict[str, str]:
    """File name of the case -> number, for the demo prescriptions in ``status``."""
    with ws.uow() as uow:
        rows = uow.session.execute(select(orm.Prescription.source, orm.Prescription.number).where(
            orm.Prescription.status == status, orm.Prescription.source.like("demo:%"))).all()
    return {source.rsplit("/", 1)[1]: number for source, number in rows}


def _count(ws: Workstation, model: type[orm.Base]) -> int:
    with ws.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_new_user_approves_a_clean_demo_prescription_with_no_keyring(
        demo_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert not secrets.secure_backend_available()
    code, out, _ = _run(capsys, "start")
    assert code == 0 and "demo data loaded" in out and "YS-DEMO-0001  李药师" in out
    ws = _ws(demo_env)
    try:
        number = _numbers(ws)[CLEAN]
    finally:
        ws.close()
    code, out, _ = _run(capsys, "claim", number, "--as", "YS-DEMO-0001")
    assert code == 0 and out.strip() == number
    code, out, err = _run(capsys, "decide", number, "--as", "YS-DEMO-0001", "--approve")
    assert code == 0, err
    assert f"approved and signed: {number} v1" in out
    ws = _ws(demo_env)
    try:
        with ws.uow() as uow:
            status = uow.session.scalar(select(orm.Prescription.status).where(orm.Prescription.number == number))
            anchors = uow.session.execute(select(orm.TrustAnchor.kind, orm.TrustAnchor.purpose, orm.TrustAnchor.active)).all()
            sources = set(uow.session.scalars(select(orm.SigningCredential.source)).all())
        assert status == "approved"
        assert anchors == [("demo", "both", True)]
        assert sources == {"demo-ca"} and _count(ws, orm.SigningCredential) == len(demo.DEMO_ACCOUNTS)
        assert audit.verify(ws.uow()).broken is None
    finally:
        ws.close()


def test_every_stored_demo_prescription_is_judged_as_its_case_says(
        demo_env: dict[str, str], fast_kdfs: None) -> None:
    """The demo CA in the database is what makes the signatures trusted, in the workstation's own reviewer."""
    ws = _ws(demo_env)
    try:
        loaded = demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=True)
        assert loaded is not None and loaded.prescriptions == len(generate.CASES)
        assert demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=True) is None  # once only
        numbers = _numbers(ws)
        who = Principal.system("test")
        problems, approvable_chronic = [], 0
        for case in generate.CASES:
            result = ws.decisions.review(who, numbers[case.file_name])
            raised = {f.rule_id for f in result.findings}
            if not set(case.expect) <= raised or raised - set(case.expect) - set(case.tolerate):
                problems.append(f"{case.file_name}: {sorted(raised)}")
            if result.approvable != case.approvable:
                problems.append(f"{case.file_name}: approvable {result.approvable}")
            approvable_chronic += generate.is_clean_chronic_follow_up(case) and result.approvable and not raised
        assert not problems, problems
        assert approvable_chronic >= 10
    finally:
        ws.close()


def test_outside_demo_mode_nothing_of_the_demo_exists_or_is_trusted(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, no_keyring: None, fast_kdfs: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path, database_url, monkeypatch, demo_mode=False)
    code, out, _ = _run(capsys, "start")
    assert code == 0 and "演示" not in out and "demo data" not in out and demo.DEMO_PASSWORD not in out
    code, out, err = _run(capsys, "demo", "reset")
    assert code == 2 and "demo_mode = false" in err and not out
    ws = _ws(env)
    try:
        for model in (orm.Pharmacist, orm.TrustAnchor, orm.Prescription, orm.SigningCredential):
            assert _count(ws, model) == 0, model.__name__
        with pytest.raises(demo.DemoModeOff):
            demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=False)
        with pytest.raises(demo.DemoModeOff):
            demo.reset_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=False)
    finally:
        ws.close()

    # A database that once ran the demo, now out of demo mode: its demo CA is trusted for nothing.
    (tmp_path / "cfg" / "settings.toml").write_text("demo_mode = true\n", encoding="utf-8")
    ws = _ws(env)
    try:
        demo.load_demo(ws.uow, ws.intake, ws.accounts, ws.signing, demo_mode=True)
        number = _numbers(ws)[CLEAN]
        assert ws.decisions.review(Principal.system("test"), number).approvable
        stored = review.stored_trust_anchors(ws.uow(), ws.settings, "prescriber")
        assert len(stored) == 1 and stored[0] in ws.release_anchors()
    finally:
        ws.close()
    (tmp_path / "cfg" / "settings.toml").write_text("demo_mode = false\n", encoding="utf-8")
    ws = _ws(env)
    try:
        assert review.stored_trust_anchors(ws.uow(), ws.settings, "prescriber") == ()
        assert stored[0] not in ws.reviewer().trust_anchors and stored[0] not in ws.release_anchors()
        result = ws.decisions.review(Principal.system("test"), number)
        assert not result.approvable and "signature.invalid" in {f.rule_id for f in result.findings}
    finally:
        ws.close()
    code, out, _ = _run(capsys, "start")
    assert code == 0 and demo.DEMO_PASSWORD not in out


def test_reset_makes_a_fresh_set_and_withdraws_the_waiting_ones(
        demo_env: dict[str, str], fast_kdfs: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "start")[0] == 0
    ws = _ws(demo_env)
    try:
        first = _numbers(ws)
        credentials = _count(ws, orm.SigningCredential)
    finally:
        ws.close()
    approved, held = first[CLEAN], first["01-htn-follow-up.json"]
    assert _run(capsys, "claim", approved, "--as", "YS-DEMO-0001")[0] == 0
    assert _run(capsys, "decide", approved, "--as", "YS-DEMO-0001", "--approve")[0] == 0
    assert _run(capsys, "claim", held, "--as", "YS-DEMO-0002")[0] == 0

    code, out, err = _run(capsys, "demo", "reset")
    assert code == 0, err
    assert f"{len(first) - 1} waiting demo prescription(s) withdrawn" in out and "YS-DEMO-0001" in out
    ws = _ws(demo_env)
    try:
        fresh = _numbers(ws)
        assert sorted(fresh) == sorted(c.file_name for c in generate.CASES)
        assert not set(fresh.values()) & set(first.values())  # new numbers
        withdrawn = _numbers(ws, "withdrawn")
        assert set(withdrawn.values()) == set(first.values()) - {approved}
        assert _numbers(ws, "approved") == {CLEAN: approved}  # a decision stays as it was
        with ws.uow() as uow:
            events = uow.session.scalars(select(orm.AuditEvent.subject).where(
                orm.AuditEvent.action == "prescription.withdrawn")).all()
            claims = uow.session.scalars(select(orm.Claim.prescription_id)).all()
            anchors = uow.session.scalars(select(orm.TrustAnchor.certificate_pem).where(orm.TrustAnchor.active.is_(True))).all()
            accounts = uow.session.scalars(select(orm.Pharmacist.licence)).all()
        assert sorted(events) == sorted(f"prescription:{n}/v1" for n in withdrawn.values())
        assert not claims  # the held claim went with its prescription
        assert len(set(anchors)) == 2  # the new CA; the old one still verifies what was signed under it
        assert sorted(accounts) == sorted(a.licence for a in demo.DEMO_ACCOUNTS)
        assert _count(ws, orm.SigningCredential) == credentials  # still good: kept, not re-issued
        assert audit.verify(ws.uow()).broken is None
        number = fresh["40-gout-allopurinol.json"]
    finally:
        ws.close()
    code, _, err = _run(capsys, "claim", held, "--as", "YS-DEMO-0001")
    assert code == 2 and "withdrawn" in err
    assert _run(capsys, "claim", number, "--as", "YS-DEMO-0001")[0] == 0
    code, out, err = _run(capsys, "decide", number, "--as", "YS-DEMO-0001", "--approve")
    assert code == 0 and "approved and signed" in out, err


def test_rxws_check_trusts_the_stored_demo_ca_in_demo_mode_only(
        demo_env: dict[str, str], fast_kdfs: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert _run(capsys, "start")[0] == 0
    ws = _ws(demo_env)
    try:
        with ws.uow() as uow:
            content = uow.session.scalar(select(orm.FhirPayload.content).join(
                orm.Prescription, orm.Prescription.payload_id == orm.FhirPayload.id).where(
                orm.Prescription.source.like(f"%/{CLEAN}")))
    finally:
        ws.close()
    assert content is not None
    received = tmp_path / CLEAN
    received.write_bytes(content)

    def judged() -> dict[str, object]:
        code, out, err = _run(capsys, "check", "--json", str(received))  # the stored formulary, the stored anchors
        assert code == 0, err
        line: dict[str, object] = json.loads(out)
        return line

    assert judged()["approvable"] is True
    (tmp_path / "cfg" / "settings.toml").write_text("demo_mode = false\n", encoding="utf-8")
    line = judged()
    assert line["approvable"] is False
    assert [f["rule_id"] for f in line["findings"]] == ["signature.invalid"]  # type: ignore[attr-defined]
