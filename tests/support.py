"""Paths to the shared test material beside the repository (../shared in CI and in development)."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import subprocess
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import keyring.backend

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def example_paths() -> list[Path]:
    """The contract's example bundles (ex-*.json)."""
    return sorted((SHARED / "examples").glob("ex-*.json"))


def external_paths() -> list[Path]:
    """FHIR bundles written by other systems (Synthea)."""
    return sorted((SHARED / "external" / "synthea-r4").glob("*.json"))


# --------------------------------------------------------------------------- test-only helpers

PKI = SHARED / "examples" / "pki"
PHARMACY_TZ = timezone(timedelta(hours=8))  # the workstation's default pharmacy zone, Asia/Shanghai
_SQUEEZE_BELOW = timedelta(hours=6)


def earlier_today(ago: timedelta, now: datetime | None = None) -> datetime:
    """``ago`` before ``now`` (at most 6 hours), and still on the pharmacy's calendar day.

    A prescription is valid only on the day it is written (at +08:00), so "two hours ago" at 00:30 in Beijing
    would be an expired prescription from yesterday. While the day is younger than six hours every ``ago`` is
    squeezed by the same factor into the part of the day gone by, so the times keep their order."""
    if ago > _SQUEEZE_BELOW:
        raise ValueError(f"earlier_today takes at most {_SQUEEZE_BELOW}, not {ago}")
    now = now or datetime.now(UTC)
    local = now.astimezone(PHARMACY_TZ)
    since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - ago * min(1.0, since_midnight / _SQUEEZE_BELOW)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring for tests only: secure enough for the workstation's check (priority > 0), kept in memory."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@cache
def _clean_example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SHARED / "examples" / "ex-clean-htn.json").read_text("utf-8"))
    return data


def signed_prescription(number: str, authored: datetime, *, quantity: int | None = None,
                        supply_days: int | None = None, note: str | None = None) -> bytes:
    """The shared clean hypertension follow-up as a new prescription ``number`` written at ``authored``,
    signed again by its physician (Dr Wang, shared test PKI) so that it verifies."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from workstation.adapters.jws import sign_detached
    from workstation.adapters.pki import certificates_from_pem
    from workstation.domain.canonical import prescription_content

    data = copy.deepcopy(_clean_example())
    suffix = number.lower()
    mrs = []
    for entry in data["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "MedicationRequest":
            old = r["id"]
            r["id"] = f"{old}-{suffix}"
            entry["fullUrl"] = entry.get("fullUrl", "").replace(old, r["id"]) or f"MedicationRequest/{r['id']}"
            r["groupIdentifier"]["value"] = number
            r["authoredOn"] = authored.isoformat(timespec="seconds")
            if quantity is not None:
                r["dispenseRequest"]["quantity"]["value"] = quantity
            if supply_days is not None:
                r["dispenseRequest"]["expectedSupplyDuration"]["value"] = supply_days
            if note is not None:
                r["note"] = [{"text": note}]
            mrs.append(r)
        elif r["resourceType"] == "Encounter":
            r.setdefault("period", {})["start"] = authored.isoformat(timespec="seconds")
    for entry in data["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Provenance":
            r["id"] = f"prov-{suffix}"
            r["target"] = [{"reference": f"MedicationRequest/{m['id']}"} for m in mrs]
            r["recorded"] = authored.isoformat(timespec="seconds")
            key = load_pem_private_key((PKI / "physician-wang.key.pem").read_bytes(), password=None)
            chain = certificates_from_pem((PKI / "physician-wang.pem").read_bytes() + (PKI / "ca.pem").read_bytes())
            token = sign_detached(prescription_content(mrs), key, chain)  # type: ignore[arg-type]
            r["signature"][0]["data"] = base64.b64encode(token.encode("ascii")).decode("ascii")
            r["signature"][0]["when"] = authored.isoformat(timespec="seconds")
    data["id"] = f"bundle-{suffix}"
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def staff(ws: Any, people: Sequence[tuple[str, str, Any]], *, password: str, pin: str) -> tuple[Any, list[Any]]:
    """Set a workstation up as a pharmacy: the example formulary, its own CA, and each (licence, name, roles)
    as an enrolled account. Returns the IT principal and the logged-in people."""
    from workstation.domain.accounts import Principal
    from workstation.services import formulary

    formulary.import_formulary(ws.uow(), (SHARED / "examples" / "formulary.csv").read_bytes(), "formulary.csv",
                               actor="test")
    admin = Principal.system("it-admin")
    ws.signing.ensure_ca(admin)
    logged_in = []
    for licence, name, roles in people:
        ws.accounts.add(admin, name=name, licence=licence, roles=roles, password=password)
        ws.signing.enroll(admin, licence, password=password, pin=pin)
        logged_in.append(ws.accounts.authenticate(licence, password))
    return admin, logged_in


@contextlib.contextmanager
def running(argv: list[str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """A child process with text pipes; killed (if still running) and its pipes closed afterwards."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
