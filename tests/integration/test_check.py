"""`rxws check --json`: the shared examples and the demo data are judged exactly as their notes say."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.demo_support import FIXED_NOW, write_demo
from tests.support import SHARED
from workstation.cli import main

EXAMPLES = SHARED / "examples"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXWS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("RXWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RXWS_DATABASE_URL", f"sqlite:///{tmp_path / 'never-created.sqlite3'}")


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["check", "--json", *argv])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    return code, lines


def _compare(lines: list[dict[str, Any]], cases: dict[str, dict[str, Any]], key: str) -> None:
    by_file = {Path(line["file"]).name.removesuffix(".json") if key == "stem" else Path(line["file"]).name: line
               for line in lines}
    problems = []
    for name, case in cases.items():
        line = by_file.get(name)
        if line is None:
            problems.append(f"{name}: no result")
            continue
        raised = {f["rule_id"] for f in line["findings"]}
        expect, tolerate = set(case["expect"]), set(case.get("tolerate", ()))
        if line.get("prescription_id") != case.get("prescription_id", case.get("prescription")):
            problems.append(f"{name}: prescription {line.get('prescription_id')}")
        if not expect <= raised:
            problems.append(f"{name}: missing {sorted(expect - raised)}")
        if raised - expect - tolerate:
            problems.append(f"{name}: unexpected {sorted(raised - expect - tolerate)} "
                            f"{[f['message'] for f in line['findings'] if f['rule_id'] in raised - expect - tolerate]}")
        if line["approvable"] != case["approvable"]:
            problems.append(f"{name}: approvable {line['approvable']}")
    assert not problems, "\n".join(problems)


def test_shared_examples_match_expected(capsys: pytest.CaptureFixture[str]) -> None:
    expected = json.loads((EXAMPLES / "expected.json").read_text("utf-8"))
    code, lines = _check(capsys, "--at", expected["review_at"], "--trust", str(EXAMPLES / "pki" / "ca.pem"),
                         "--formulary", str(EXAMPLES / "formulary.csv"), str(EXAMPLES))
    assert code == 0
    assert len(lines) == len(expected["cases"])
    _compare(lines, expected["cases"], "stem")
    for line in lines:
        assert set(line) == {"file", "prescription_id", "items", "approvable", "findings"}
        for f in line["findings"]:
            assert set(f) == {"rule_id", "severity", "item", "message", "citation"}
            assert f["severity"] in ("block", "warn")


@pytest.mark.parametrize("now", [FIXED_NOW, datetime(2029, 3, 1, 0, 0, 40, tzinfo=timezone(timedelta(hours=8))),
                                 datetime(2027, 7, 14, 15, 59, 50, tzinfo=UTC)],
                         ids=["demo-day", "just-after-midnight", "just-before-midnight"])
def test_demo_data_is_judged_as_its_manifest_says(now: datetime, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    """On any day the demo is made, each bundle raises what its case says (ages, years, validity all hold)."""
    manifest = write_demo(tmp_path / "demo", now)
    demo = tmp_path / "demo"
    code, lines = _check(capsys, "--at", manifest["review_at"], "--trust", str(demo / manifest["trust_anchor"]),
                         "--formulary", str(demo / manifest["formulary"]), str(demo / "bundles"))
    assert code == 0
    _compare(lines, manifest["bundles"], "name")
    raised = {f["rule_id"] for line in lines for f in line["findings"]}
    assert set(manifest["rule_ids"]) <= raised  # at least one demo prescription for every rule id


def test_without_the_demo_ca_no_demo_signature_is_trusted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Nothing ships trusted: the demo CA is trusted only where it is given (or stored, in demo mode)."""
    manifest = write_demo(tmp_path / "demo")
    demo = tmp_path / "demo"
    code, lines = _check(capsys, "--at", manifest["review_at"], "--formulary", str(demo / manifest["formulary"]),
                         str(demo / "bundles" / "01-htn-follow-up.json"))
    assert code == 0 and not lines[0]["approvable"]
    assert [f["rule_id"] for f in lines[0]["findings"]] == ["signature.invalid"]


def test_an_unreadable_file_is_reported_and_the_run_goes_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, lines = _check(capsys, "--formulary", str(EXAMPLES / "formulary.csv"), str(bad), str(EXAMPLES / "ex-clean-htn.json"))
    assert code == 1
    assert lines[0]["file"] == str(bad) and "not valid JSON" in lines[0]["error"]
    assert lines[1]["prescription_id"] == "RXEXCLEANHTN"


def test_the_untrusted_default_blocks_the_clean_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Without the example CA as trust anchor the same signature is not trusted: fail closed."""
    expected = json.loads((EXAMPLES / "expected.json").read_text("utf-8"))
    code, lines = _check(capsys, "--at", expected["review_at"], "--formulary", str(EXAMPLES / "formulary.csv"),
                         str(EXAMPLES / "ex-clean-htn.json"))
    assert code == 0 and not lines[0]["approvable"]
    assert [f["rule_id"] for f in lines[0]["findings"]] == ["signature.invalid"]


def test_readable_chinese_report(capsys: pytest.CaptureFixture[str]) -> None:
    expected = json.loads((EXAMPLES / "expected.json").read_text("utf-8"))
    code = main(["check", "--at", expected["review_at"], "--trust", str(EXAMPLES / "pki" / "ca.pem"),
                 "--formulary", str(EXAMPLES / "formulary.csv"), str(EXAMPLES / "ex-narcotic.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "处方 RXEXNARCOTIC" in out and "不得通过" in out and "【拦截】special_drug.narcotic" in out and "羟考酮" in out


def test_institution_settings_apply_to_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Raising a warning to a block (allowed without a reason) changes the verdict."""
    demo = tmp_path / "demo"
    manifest = write_demo(demo)
    args = ["--at", manifest["review_at"], "--trust", str(demo / manifest["trust_anchor"]),
            "--formulary", str(demo / manifest["formulary"]), str(demo / "bundles" / "10-online-sale-warfarin.json")]
    _, before = _check(capsys, *args)
    assert before[0]["approvable"] and {f["severity"] for f in before[0]["findings"]} == {"warn"}
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "settings.toml").write_text(
        '[review.rules."special_drug.online_sale_prohibited"]\nseverity = "block"\n', encoding="utf-8")
    _, after = _check(capsys, *args)
    assert not after[0]["approvable"]
    assert {f["rule_id"]: f["severity"] for f in after[0]["findings"]}["special_drug.online_sale_prohibited"] == "block"


def test_bundles_from_other_systems_are_judged_and_fail_closed(capsys: pytest.CaptureFixture[str]) -> None:
    """Synthea exports: every prescription is judged; none has our signature, so none is approvable."""
    from tests.support import external_paths

    paths = external_paths()
    if not paths:
        pytest.skip("no Synthea bundles under shared/external")
    code, lines = _check(capsys, "--formulary", str(EXAMPLES / "formulary.csv"), *map(str, paths))
    assert code == 0, [line for line in lines if "error" in line][:3]
    assert {Path(line["file"]).name for line in lines} == {p.name for p in paths if _has_requests(p)}
    for line in lines:
        assert line.get("checked", True) is not False, line
        rules = {f["rule_id"] for f in line["findings"]}
        assert not line["approvable"] and "signature.missing" in rules, line["prescription_id"]


def _has_requests(path: Path) -> bool:
    return '"MedicationRequest"' in path.read_text("utf-8")


@pytest.mark.parametrize(("at", "message"), [("yesterday", "not an ISO 8601"), ("2026-06-01T10:00:00", "UTC offset")])
def test_a_bad_review_time_is_a_usage_error(capsys: pytest.CaptureFixture[str], at: str, message: str) -> None:
    code = main(["check", "--at", at, "--formulary", str(EXAMPLES / "formulary.csv"), str(EXAMPLES / "ex-narcotic.json")])
    assert code == 2 and message in capsys.readouterr().err


def test_check_stores_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _check(capsys, "--formulary", str(EXAMPLES / "formulary.csv"), str(EXAMPLES))
    assert not (tmp_path / "never-created.sqlite3").exists()
