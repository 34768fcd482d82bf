"""The decision commands as an operator scripts them, end to end, and a scan for secrets afterwards."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select

from tests.conftest import PASSWORD, PIN
from tests.support import PKI, SHARED, MemoryKeyring, signed_prescription
from workstation.adapters.receiver import serve
from workstation.cli import main

TOKEN = "dispensing-token-Zq81xv"


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
        fast_kdfs: None) -> dict[str, str]:
    values = {"RXWS_CONFIG_DIR": str(tmp_path / "cfg"), "RXWS_DATA_DIR": str(tmp_path / "data"),
              "RXWS_DATABASE_URL": database_url, "RXWS_TRUST": str(PKI / "ca.pem"),
              "RXWS_PASSWORD": PASSWORD, "RXWS_PIN": PIN}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "settings.toml").write_text("demo_mode = false\n[release]\nmax_attempts = 2\n", encoding="utf-8")
    return values


def _run(capsys: pytest.CaptureFixture[str], log: list[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    log.extend([captured.out, captured.err])
    return code, captured.out, captured.err


def test_the_whole_decision_flow_from_the_command_line_leaves_no_secret_behind(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    out: list[str] = []
    assert _run(capsys, out, "formulary", "import", str(SHARED / "examples" / "formulary.csv"))[0] == 0
    code, text, _ = _run(capsys, out, "pharmacist", "add", "--name", "李药师", "--licence", "PH0001", "--role", "pharmacist")
    assert code == 0 and "rxws pharmacist enroll --licence PH0001" in text
    code, text, _ = _run(capsys, out, "pharmacist", "enroll", "--licence", "PH0001")
    assert code == 0 and "signing certificate ready" in text
    code, text, _ = _run(capsys, out, "pharmacist", "list")
    assert "PH0001\t李药师\tpharmacist\tactive\tenrolled" in text
    bundle = tmp_path / "rx.json"
    bundle.write_bytes(signed_prescription("RXCLI1", datetime.now(UTC)))
    old = tmp_path / "old.json"
    old.write_bytes(signed_prescription("RXCLI2", datetime(2026, 6, 1, 9, tzinfo=UTC)))
    assert _run(capsys, out, "ingest", str(bundle), str(old))[0] == 0

    code, text, _ = _run(capsys, out, "claim", "--as", "PH0001")
    assert code == 0 and text.strip() in ("RXCLI1", "RXCLI2")
    assert _run(capsys, out, "claim", "RXCLI1" if text.strip() == "RXCLI2" else "RXCLI2", "--as", "PH0001")[0] == 0
    code, _, err = _run(capsys, out, "decide", "RXCLI2", "--as", "PH0001", "--approve")
    assert code == 1 and "validity.expired" in err and "blocking findings" in err  # a refused approval says why
    code, text, _ = _run(capsys, out, "decide", "RXCLI2", "--as", "PH0001", "--reject", "incomplete", "--comment", "已过期")
    assert code == 0 and "rejected" in text
    code, text, _ = _run(capsys, out, "decide", "RXCLI1", "--as", "PH0001", "--approve")
    assert code == 0 and "approved and signed" in text

    ca = tmp_path / "ca.pem"
    assert _run(capsys, out, "ca", "export", str(ca))[0] == 0
    from workstation.adapters.pki import certificates_from_pem

    memory_keyring.set_password("rxws", "dispensing-token", TOKEN)
    with serve(0, certificates_from_pem(ca.read_bytes()), tmp_path / "received") as receiver:
        monkeypatch.setenv("RXWS_DISPENSING_URL", f"{receiver.url}/dispensing")
        monkeypatch.setenv("RXWS_DELIVERY_URL", f"{receiver.url}/delivery")
        code, text, _ = _run(capsys, out, "release", "run")
        assert code == 0 and text.count("sent\t") == 2
    files = sorted(p for p in (tmp_path / "received").rglob("*.json") if not p.name.endswith(".answer.json"))
    assert len(files) == 2
    for f in files:
        code, text, _ = _run(capsys, out, "verify", str(f), "--trust", str(ca))
        assert code == 0 and "VALID" in text
        code, text, _ = _run(capsys, out, "verify", str(f))  # by default: this workstation's own CA
        assert code == 0 and "VALID" in text
    tampered = tmp_path / "tampered.json"
    (dispensing,) = [f for f in files if f.parent.name == "dispensing"]
    data = json.loads(dispensing.read_text("utf-8"))
    data["entry"][0]["resource"]["dispenseRequest"]["quantity"]["value"] = 99
    tampered.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code, text, _ = _run(capsys, out, "verify", str(tampered), "--trust", str(ca))
    assert code == 1 and "INVALID" in text
    code, text, _ = _run(capsys, out, "release", "list")
    assert text.count("\tsent\t") == 2
    assert _run(capsys, out, "audit", "verify")[0] == 0

    # --- no secret in the database, the settings files or the logs
    secrets = [PASSWORD, PIN, TOKEN, *memory_keyring.values.values()]
    haystacks = {"output": "\n".join(out), "log": caplog.text}
    for path in Path(env["RXWS_CONFIG_DIR"]).rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_text("utf-8", errors="replace")
    for path in Path(env["RXWS_DATA_DIR"]).rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("latin-1")  # raw SQLite pages and WAL included
    engine = create_engine(env["RXWS_DATABASE_URL"])
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            haystacks[f"table {table.name}"] = "\n".join(repr(tuple(row)) for row in conn.execute(select(table)))
    engine.dispose()
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in {where}"
        assert "BEGIN PRIVATE KEY" not in text and "BEGIN EC PRIVATE KEY" not in text, f"an unencrypted key in {where}"
    assert "ENCRYPTED PRIVATE KEY" in haystacks["table signing_credential"]  # keys are there, but only encrypted


def _enrolled_pharmacist(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The example formulary and PH0001 李药师 enrolled; returns the output log."""
    out: list[str] = []
    assert _run(capsys, out, "formulary", "import", str(SHARED / "examples" / "formulary.csv"))[0] == 0
    assert _run(capsys, out, "pharmacist", "add", "--name", "李药师", "--licence", "PH0001", "--role", "pharmacist")[0] == 0
    assert _run(capsys, out, "pharmacist", "enroll", "--licence", "PH0001")[0] == 0
    return out


def test_a_password_change_and_a_pin_lock_from_the_command_line(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = _enrolled_pharmacist(capsys)
    monkeypatch.setenv("RXWS_NEW_PASSWORD", "Second-Desk-2027")
    code, text, err = _run(capsys, out, "pharmacist", "passwd", "--licence", "PH0001")
    assert code == 0 and "the signing key is re-encrypted" in text, err
    monkeypatch.setenv("RXWS_PASSWORD", "Second-Desk-2027")
    bundle = tmp_path / "rx.json"
    bundle.write_bytes(signed_prescription("RXPIN1", datetime.now(UTC)))
    assert _run(capsys, out, "ingest", str(bundle))[0] == 0
    assert _run(capsys, out, "claim", "RXPIN1", "--as", "PH0001")[0] == 0
    monkeypatch.setenv("RXWS_PIN", "739164")
    for _ in range(5):  # each command is a new process: only the stored count can lock
        code, _text, err = _run(capsys, out, "decide", "RXPIN1", "--as", "PH0001", "--approve")
        assert code != 0
    assert "5 wrong signing PINs in a row" in err
    code, text, _ = _run(capsys, out, "pharmacist", "list")
    assert "signing PIN locked until" in text and "(Asia/Shanghai)" in text
    monkeypatch.setenv("RXWS_PIN", PIN)
    code, _text, err = _run(capsys, out, "decide", "RXPIN1", "--as", "PH0001", "--approve")
    assert code != 0 and "signing is locked" in err
    assert _run(capsys, out, "pharmacist", "unlock", "--licence", "PH0001")[0] == 0
    code, text, err = _run(capsys, out, "decide", "RXPIN1", "--as", "PH0001", "--approve")
    assert code == 0 and "approved and signed: RXPIN1 v1" in text, err


def test_release_without_a_url_is_a_settings_error_that_uses_no_attempt(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = _enrolled_pharmacist(capsys)
    bundle = tmp_path / "rx.json"
    bundle.write_bytes(signed_prescription("RXNOURL", datetime.now(UTC)))
    assert _run(capsys, out, "ingest", str(bundle))[0] == 0
    code, _text, err = _run(capsys, out, "claim", "RXNOURL", "--as", "PH0001")
    assert code == 0 and "(Asia/Shanghai)" in err and "UTC" not in err  # the lease's end in the pharmacy's zone
    assert _run(capsys, out, "decide", "RXNOURL", "--as", "PH0001", "--approve")[0] == 0
    monkeypatch.setenv("RXWS_DISPENSING_URL", "http://127.0.0.1:9/dispensing")
    code, _text, err = _run(capsys, out, "release", "run")
    assert code == 2
    assert "[release] delivery_url (or RXWS_DELIVERY_URL)" in err and "no attempt was used" in err
    assert "settings.toml" in err
    code, text, _ = _run(capsys, out, "release", "list")
    rows = [line.split("\t") for line in text.splitlines()]
    assert len(rows) == 2 and all(r[3] == "pending" and r[4] == "attempts 0" for r in rows)


def test_times_shown_by_the_lists_are_in_the_pharmacy_zone(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out: list[str] = []
    assert _run(capsys, out, "formulary", "import", str(SHARED / "examples" / "formulary.csv"))[0] == 0
    code, text, _ = _run(capsys, out, "formulary", "list")
    assert code == 0 and "CST (Asia/Shanghai)" in text
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    _run(capsys, out, "ingest", str(broken))
    code, text, _ = _run(capsys, out, "quarantine", "list")
    assert "CST (Asia/Shanghai)" in text
