"""`rxws verify` and `rxws receiver`: exit statuses and output, the receiver as a real process."""

from __future__ import annotations

import argparse
import copy
import io
import json
import signal
import sys
from pathlib import Path

import pytest
import requests

from tests.release_support import CA, LICENCE, NUMBER, release_bundle, release_delivery
from tests.support import REPO, running
from workstation.adapters.pki import certificate_pem, create_pharmacy_ca
from workstation.cli_release import COMMANDS, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, add_parsers

# What `rxws` will do once workstation.cli registers these commands.
MAIN = """
import argparse, sys
from workstation.cli_release import COMMANDS, add_parsers
parser = argparse.ArgumentParser(prog="rxws")
add_parsers(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[1:])
sys.exit(COMMANDS[args.command](args, sys.stdout))
"""


def _run(*argv: str | Path) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="rxws")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    out = io.StringIO()
    return COMMANDS[args.command](args, out), out.getvalue()


@pytest.fixture
def ca_pem(tmp_path: Path) -> Path:
    path = tmp_path / "pharmacy-ca.pem"
    path.write_bytes(certificate_pem([CA]))
    return path


def _file(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content, ensure_ascii=False), "utf-8")
    return path


# --------------------------------------------------------------------------- verify


def test_a_good_dispensing_bundle_verifies_and_says_who_signed(tmp_path: Path, ca_pem: Path) -> None:
    code, out = _run("verify", _file(tmp_path, "b.json", release_bundle()), "--trust", ca_pem)
    assert code == EXIT_OK, out
    first, *rest = out.splitlines()
    assert "签名有效 VALID" in first and "dispensing bundle" in first
    assert any(f"药师 王丽（执业药师注册证号 {LICENCE}）" in line and NUMBER in line for line in rest)
    assert any("approves it for dispensing" in line for line in rest)


def test_a_good_delivery_message_verifies(tmp_path: Path, ca_pem: Path) -> None:
    code, out = _run("verify", _file(tmp_path, "d.json", release_delivery()), "--trust", ca_pem)
    assert code == EXIT_OK and "delivery message" in out and "PCL-20260601-0007" in out


def test_a_tampered_bundle_fails_with_the_reason(tmp_path: Path, ca_pem: Path) -> None:
    bundle = copy.deepcopy(release_bundle())
    bundle["entry"][0]["resource"]["dispenseRequest"]["quantity"]["value"] += 1
    code, out = _run("verify", _file(tmp_path, "b.json", bundle), "--trust", ca_pem)
    assert code == EXIT_PARTIAL
    assert "签名无效 INVALID" in out and "changed after the approval" in out


def test_an_untrusted_signer_fails(tmp_path: Path) -> None:
    other, _ = create_pharmacy_ca("另一家药房 CA", now=CA.not_valid_before_utc)
    (tmp_path / "other.pem").write_bytes(certificate_pem([other]))
    code, out = _run("verify", _file(tmp_path, "d.json", release_delivery()), "--trust", tmp_path / "other.pem")
    assert code == EXIT_PARTIAL and "not trusted" in out


def test_json_that_is_no_release_message_fails(tmp_path: Path, ca_pem: Path) -> None:
    code, out = _run("verify", _file(tmp_path, "x.json", {"hello": 1}), "--trust", ca_pem)
    assert code == EXIT_PARTIAL and "neither a dispensing Bundle nor a delivery message" in out


@pytest.mark.parametrize("content", [b"not json", b"\xff", b'{"a":1,"a":2}'])
def test_a_file_that_is_no_json_is_a_usage_error(tmp_path: Path, ca_pem: Path, content: bytes,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    code, out = _run("verify", path, "--trust", ca_pem)
    assert code == EXIT_USAGE and out == ""
    assert "not valid JSON" in capsys.readouterr().err


def test_an_unreadable_file_is_a_usage_error(tmp_path: Path, ca_pem: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("verify", tmp_path / "missing.json", "--trust", ca_pem)
    assert code == EXIT_USAGE and "cannot read" in capsys.readouterr().err


def test_verify_without_trust_uses_the_workstations_own_ca_and_says_when_there_is_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RXWS_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("RXWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RXWS_DATABASE_URL", f"sqlite:///{tmp_path / 'ws.sqlite3'}")
    code, _ = _run("verify", _file(tmp_path, "b.json", release_bundle()))
    assert code == EXIT_USAGE and "no pharmacy CA" in capsys.readouterr().err


def test_a_bad_trust_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.pem").write_text("no certificate")
    code, _ = _run("verify", _file(tmp_path, "b.json", release_bundle()), "--trust", tmp_path / "bad.pem")
    assert code == EXIT_USAGE and "bad.pem" in capsys.readouterr().err


# --------------------------------------------------------------------------- receiver


def test_receiver_requires_trust(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run("receiver", "--port", "0", "--store", tmp_path)
    assert code == EXIT_USAGE and "--trust is required" in capsys.readouterr().err


def test_the_help_offers_the_fault_options_only_for_testing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run("receiver", "--help")
    help_text = capsys.readouterr().out
    assert "--fault-rate" in help_text and help_text.count("for testing") == 3


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_receiver_runs_logs_each_request_and_stops_cleanly(tmp_path: Path, ca_pem: Path,
                                                                stop: signal.Signals) -> None:
    store = tmp_path / "store"
    argv = [sys.executable, "-c", MAIN, "receiver", "--port", "0", "--trust", str(ca_pem), "--store", str(store)]
    with running(argv, cwd=REPO) as proc:
        assert proc.stdout is not None
        started = proc.stdout.readline()
        assert "receiver listening on http://127.0.0.1:" in started, started + (proc.stderr.read() if proc.stderr else "")
        url = started.split("listening on ", 1)[1].split(",", 1)[0]
        body = json.dumps(release_delivery(), ensure_ascii=False).encode("utf-8")
        response = requests.post(f"{url}/delivery", data=body, headers={"Idempotency-Key": "k-1"}, timeout=10)
        assert response.status_code == 201
        line = proc.stdout.readline()
        assert "POST /delivery key=k-1 201" in line
        assert (store / "delivery" / "k-1.json").read_bytes() == body
        proc.send_signal(stop)
        assert proc.wait(timeout=30) == EXIT_OK
        assert "receiver stopped" in proc.stdout.read()


def test_a_port_in_use_is_a_usage_error(tmp_path: Path, ca_pem: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workstation.adapters.receiver import serve

    with serve(0, [CA], tmp_path / "first") as running:
        code, _ = _run("receiver", "--port", str(running.port), "--trust", ca_pem, "--store", tmp_path / "second")
    assert code == EXIT_USAGE and "cannot start" in capsys.readouterr().err
