"""The `rxws` command line as an operator uses it: messages, exit codes, and what it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from resources.demo import generate
from tests.support import SHARED, example_paths
from workstation.adapters.db import orm
from workstation.bootstrap import open_workstation
from workstation.cli import main
from workstation.services import demo
from workstation.settings import load_settings


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"RXWS_CONFIG_DIR": str(tmp_path / "cfg"), "RXWS_DATA_DIR": str(tmp_path / "data"),
              "RXWS_DATABASE_URL": database_url}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _prescriptions(env: dict[str, str]) -> int:
    ws = open_workstation(load_settings(env))
    try:
        with ws.uow() as uow:
            return uow.session.scalar(select(func.count()).select_from(orm.Prescription)) or 0
    finally:
        ws.close()


def test_start_loads_the_demo_once_and_shows_the_queue(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys)
    assert code == 0
    n = len(generate.CASES)
    assert "demo data loaded: " in out and f"{n} prescriptions from {n} bundles" in out
    assert f"prescriptions waiting for review: {n}" in out
    # the headless start says how to sign in to the demo, in demo mode only
    assert f"password {demo.DEMO_PASSWORD}" in out and f"signing PIN {demo.DEMO_PIN}" in out
    assert all(f"{a.licence}  {a.name}" in out for a in demo.DEMO_ACCOUNTS)
    code, out, _ = _run(capsys, "start")
    assert code == 0 and "demo data loaded" not in out and _prescriptions(env) == n


def test_start_takes_in_the_inbox(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    inbox = Path(env["RXWS_DATA_DIR"]) / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "a.json").write_bytes(example_paths()[0].read_bytes())
    os.utime(inbox / "a.json", (1, 1))  # long settled
    code, out, _ = _run(capsys, "start", "--no-demo")
    assert code == 0 and "a.json: 已接收 stored RXEXAIREQUESTER v1" in out
    assert (inbox / "processed" / "a.json").exists()


def test_ingest_reports_file_by_file_and_exits_1_on_quarantine(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe not json")
    code, out, _ = _run(capsys, "ingest", str(SHARED / "examples"), str(bad))
    assert code == 1
    for path in example_paths():
        assert f"{path}: 已接收 stored" in out
    assert f"{bad}: 已隔离 quarantined (整个文件 whole file) — 不是 UTF-8 文本 / not UTF-8 text" in out
    code, out, _ = _run(capsys, "ingest", str(example_paths()[0]))
    assert code == 0 and "重复 duplicate RXEXAIREQUESTER v1" in out
    code, out, _ = _run(capsys, "quarantine", "list")
    assert code == 0 and "not UTF-8" in out


def test_ingest_of_nothing_is_a_usage_error(env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "ingest", str(tmp_path))
    assert code == 2 and "no *.json files" in err


def test_formulary_import_names_bad_lines_and_keeps_versions(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = SHARED / "examples" / "formulary.csv"
    code, out, _ = _run(capsys, "formulary", "import", str(good))
    assert code == 0 and "as version v1 (now active)" in out
    code, out, _ = _run(capsys, "formulary", "import", str(good))
    assert code == 0 and "identical to the active version v1" in out
    lines = good.read_text("utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 4)[0] + ",abc,maybe,x,y"  # dose not a number, skin test unknown
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = _run(capsys, "formulary", "import", str(bad))
    assert code == 1 and "formulary NOT imported" in out and "line 4" in out
    code, out, _ = _run(capsys, "formulary", "list")
    assert code == 0 and out.count("entries") == 1 and out.startswith("* v1")


def test_audit_verify_and_db_commands(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "ingest", str(example_paths()[0]))
    code, out, _ = _run(capsys, "audit", "verify")
    assert code == 0 and "audit chain intact: 1 events verified" in out
    from workstation.adapters.db import migrate

    head = migrate.head_revision()
    code, out, _ = _run(capsys, "db", "upgrade")
    assert code == 0 and f"{head} → {head}" in out
    code, out, _ = _run(capsys, "db", "current")
    assert code == 0 and f"schema {head}" in out


def test_special_drug_list_can_be_replaced_without_code(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(capsys, "special-drugs", "show")
    assert code == 0 and "packaged:regulatory/special_drugs.csv" in out
    newer = tmp_path / "special_drugs_2027.csv"
    original = (Path(__file__).resolve().parents[2] / "resources" / "regulatory" / "special_drugs.csv").read_text("utf-8")
    newer.write_text(original + "narcotic,新麻醉药,newnarcotic,,,added in a later list,test\n", encoding="utf-8")
    code, out, _ = _run(capsys, "special-drugs", "import", str(newer))
    assert code == 0 and "installed" in out
    code, out, _ = _run(capsys, "special-drugs", "show")
    assert str(Path(env["RXWS_DATA_DIR"]) / "special_drugs.csv") in out
    broken = tmp_path / "broken.csv"
    broken.write_text("category,name_zh\nnarcotic,\n", encoding="utf-8")
    code, out, _ = _run(capsys, "special-drugs", "import", str(broken))
    assert code == 1 and "list NOT installed" in out


def test_settings_errors_exit_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXWS_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("RXWS_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("RXWS_DATABASE_URL", "postgresql://rxws:hunter2@127.0.0.1/rxws")
    code, _, err = _run(capsys, "queue")
    assert code == 2 and "rxws db set-password" in err and "hunter2" not in err


def test_unreachable_database_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXWS_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("RXWS_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("RXWS_DATABASE_URL", "postgresql://rxws@127.0.0.1:9/rxws")
    code, _, err = _run(capsys, "queue")
    assert code == 3 and "cannot open the database postgresql://rxws@127.0.0.1:9/rxws" in err and "Connection refused" in err


def test_help_and_version_from_the_installed_command() -> None:
    rxws = Path(sys.executable).with_name("rxws")
    out = subprocess.run([str(rxws), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for word in ("start", "ingest", "inbox", "pull", "formulary", "special-drugs", "audit", "db", "RXWS_DATABASE_URL"):
        assert word in out.stdout
    version = subprocess.run([str(rxws), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("rxws ")


def test_a_loosened_review_setting_is_audited_once_with_its_reason(
        env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = Path(env["RXWS_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.toml").write_text(
        '[review.rules."items.too_many"]\nenabled = false\nreason = "中药饮片另行审核"\n', encoding="utf-8")
    code, out, _ = _run(capsys, "start")
    assert code == 0 and "recorded with their reasons in the audit trail" in out
    code, out, _ = _run(capsys, "start")
    assert code == 0 and "recorded with their reasons" not in out  # once, not at every start
    ws = open_workstation(load_settings(env))
    try:
        with ws.uow() as uow:
            events = uow.session.scalars(select(orm.AuditEvent).where(
                orm.AuditEvent.action == "review.settings_loosened")).all()
            assert len(events) == 1
            details = json.loads(events[0].details) if isinstance(events[0].details, str) else events[0].details
            assert details["change"] == "rule items.too_many disabled" and details["reason"] == "中药饮片另行审核"
    finally:
        ws.close()
    assert _run(capsys, "audit", "verify")[0] == 0
