"""Tests for the shipped demo data: valid FHIR, signatures as their cases say, every rule, no keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from fhir.resources.R4B import get_fhir_model_class

from resources.demo import generate
from workstation.adapters.jws import JwsError, leaf_serial_number, verify_detached
from workstation.domain.canonical import prescription_content

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
DEMO = RESOURCES / "demo"
SHARED_RULES = Path("/work/shared/reference/review-rules.md")
SHARED_FORMULARY = Path("/work/shared/examples/formulary.csv")
LICENCE_SYSTEM = "https://rxws.example.org/fhir/sid/physician-license"
SIGNATURE_RULES = frozenset({"signature.missing", "signature.invalid"})

MANIFEST: dict[str, Any] = json.loads((DEMO / "manifest.json").read_text("utf-8"))
BUNDLE_FILES = sorted((DEMO / "bundles").glob("*.json"))
CA = x509.load_pem_x509_certificate((DEMO / MANIFEST["trust_anchor"]).read_bytes())


def _is_signature_case(name: str) -> bool:
    return bool(SIGNATURE_RULES.intersection(MANIFEST["bundles"][name]["expect"]))


SIGNED_CASES = [p for p in BUNDLE_FILES if not _is_signature_case(p.name)]
SIGNATURE_CASES = [p for p in BUNDLE_FILES if _is_signature_case(p.name)]


def _rule_table() -> dict[str, str]:
    """rule id -> severity, from review-rules.md when it is at hand, else from the repo's own copy."""
    if not SHARED_RULES.is_file():
        return {r: generate.RULE_SEVERITY[r] for r in MANIFEST["rule_ids"]}
    table: dict[str, str] = {}
    for line in SHARED_RULES.read_text("utf-8").splitlines():
        m = re.match(r"^\|\s*`([a-z_]+\.[a-z_]+)`\s*\|\s*(\w+)\s*\|", line)
        if m:
            table[m[1]] = m[2]
    assert table, f"no rule ids found in {SHARED_RULES}"
    return table


class _Bundle:
    """One demo bundle with the look-ups the signature checks need."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        self.by_url = {e["fullUrl"]: e["resource"] for e in self.data["entry"]}
        self.requests = [r for r in self.by_url.values() if r["resourceType"] == "MedicationRequest"]
        self.provenances = [r for r in self.by_url.values() if r["resourceType"] == "Provenance"]

    @property
    def authored(self) -> dt.datetime:
        return min(dt.datetime.fromisoformat(r["authoredOn"]) for r in self.requests)

    def requester_licence(self) -> str | None:
        requesters = {r["requester"]["reference"] for r in self.requests}
        assert len(requesters) == 1
        requester = self.by_url[requesters.pop()]
        if requester["resourceType"] != "Practitioner":
            return None
        return next((i["value"] for i in requester.get("identifier", []) if i["system"] == LICENCE_SYSTEM), None)

    def signature(self) -> tuple[str, bytes]:
        """The prescriber's JWS and the content it should cover (every item of the prescription)."""
        assert len(self.provenances) == 1
        provenance = self.provenances[0]
        targets = {t["reference"] for t in provenance["target"]}
        assert targets == {f"MedicationRequest/{r['id']}" for r in self.requests}
        token = base64.b64decode(provenance["signature"][0]["data"], validate=True).decode("ascii")
        return token, prescription_content(self.requests)


# --------------------------------------------------------------------------- the manifest


def test_manifest_lists_exactly_the_shipped_bundles() -> None:
    assert sorted(MANIFEST["bundles"]) == [p.name for p in BUNDLE_FILES]
    assert len(BUNDLE_FILES) >= 30
    assert MANIFEST["review_at"] == "2026-12-01T11:30:00+08:00"
    assert (DEMO / MANIFEST["formulary"]).is_file()


def test_manifest_covers_every_rule_id() -> None:
    rules = _rule_table()
    if SHARED_RULES.is_file():
        assert MANIFEST["rule_ids"] == list(rules), "the manifest's copy of the rule ids is out of date"
    raised = {r for case in MANIFEST["bundles"].values() for r in case["expect"]}
    assert set(rules) <= raised, f"no demo bundle raises {sorted(set(rules) - raised)}"
    assert raised <= set(rules)


def test_approvable_means_only_warnings() -> None:
    rules = _rule_table()
    for name, case in MANIFEST["bundles"].items():
        assert case["approvable"] == all(rules[r] == "warn" for r in case["expect"]), name
        assert case["description_zh"] and case["description_en"], name


def test_most_cases_raise_one_thing() -> None:
    """Each bundle demonstrates its problem and little else, so a pharmacist sees what it is about."""
    cases = MANIFEST["bundles"].values()
    clean = [c for c in cases if not c["expect"]]
    assert len(clean) >= 5
    assert sum(1 for c in cases if len(c["expect"]) <= 1) >= len(cases) - 2


# --------------------------------------------------------------------------- the bundles


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=lambda p: p.stem)
def test_bundle_is_valid_fhir_r4b(path: Path) -> None:
    bundle = _Bundle(path)
    get_fhir_model_class("Bundle").model_validate(bundle.data)
    for resource in bundle.by_url.values():
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert bundle.data["type"] == "collection"
    numbers = {r["groupIdentifier"]["value"] for r in bundle.requests}
    assert numbers == {MANIFEST["bundles"][path.name]["prescription"]}


@pytest.mark.parametrize("path", BUNDLE_FILES, ids=lambda p: p.stem)
def test_bundle_is_dated_on_the_demo_day(path: Path) -> None:
    authored = _Bundle(path).authored
    if "validity.expired" in MANIFEST["bundles"][path.name]["expect"]:
        assert authored.date() < dt.date(2026, 12, 1)
        return
    start = dt.datetime(2026, 12, 1, 8, tzinfo=generate.TZ)
    assert start <= authored <= start + dt.timedelta(hours=3)


@pytest.mark.parametrize("path", SIGNED_CASES, ids=lambda p: p.stem)
def test_signature_verifies_for_the_prescriber(path: Path) -> None:
    bundle = _Bundle(path)
    token, content = bundle.signature()
    leaf = verify_detached(token, content)
    licence = bundle.requester_licence()
    assert licence is not None
    assert leaf_serial_number(leaf) == licence
    leaf.verify_directly_issued_by(CA)
    assert leaf.not_valid_before_utc <= bundle.authored <= leaf.not_valid_after_utc


@pytest.mark.parametrize("path", SIGNATURE_CASES, ids=lambda p: p.stem)
def test_signature_cases_fail_for_a_reason(path: Path) -> None:
    bundle = _Bundle(path)
    if "signature.missing" in MANIFEST["bundles"][path.name]["expect"]:
        assert not bundle.provenances
        return
    token, content = bundle.signature()
    try:
        leaf = verify_detached(token, content)
    except JwsError:
        return  # changed after signing
    reasons = []
    try:
        leaf.verify_directly_issued_by(CA)
    except (ValueError, TypeError, InvalidSignature):
        reasons.append("untrusted")
    if not leaf.not_valid_before_utc <= bundle.authored <= leaf.not_valid_after_utc:
        reasons.append("expired")
    if leaf_serial_number(leaf) != bundle.requester_licence():
        reasons.append("not the requester")
    assert reasons, f"{path.name} is meant to carry an invalid signature, but its signature is valid"


# --------------------------------------------------------------------------- files and keys


def test_no_file_under_resources_holds_a_private_key() -> None:
    offenders = [
        str(p.relative_to(REPO)) for p in RESOURCES.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()
    ]
    assert not offenders


def test_pki_holds_only_certificates() -> None:
    pems = sorted((DEMO / "pki").glob("*.pem"))
    assert "demo-ca.pem" in [p.name for p in pems]
    assert len(pems) >= 7
    for p in pems:
        text = p.read_text("ascii")
        assert set(re.findall(r"-----BEGIN ([A-Z ]+)-----", text)) == {"CERTIFICATE"}, p.name
        assert len(x509.load_pem_x509_certificates(p.read_bytes())) == 1, p.name
    assert sorted(p.name for p in (DEMO / "pki").iterdir()) == [p.name for p in pems]


def test_formulary_has_the_import_columns_and_every_stocked_drug() -> None:
    header, *rows = (DEMO / "formulary.csv").read_text("utf-8").splitlines()
    if SHARED_FORMULARY.is_file():
        assert header == SHARED_FORMULARY.read_text("utf-8").splitlines()[0]
    codes = {row.split(",", 1)[0] for row in rows}
    for path in BUNDLE_FILES:
        for request in _Bundle(path).requests:
            drug_codes = [c["code"] for c in request["medicationCodeableConcept"]["coding"]
                          if c["system"] == "https://rxws.example.org/fhir/CodeSystem/drug"]
            if "catalog.unknown_drug" in MANIFEST["bundles"][path.name]["expect"]:
                assert not set(drug_codes) & codes
            else:
                assert drug_codes and set(drug_codes) <= codes, (path.name, drug_codes)


def _without_signatures(data: bytes) -> Any:
    bundle = json.loads(data)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Provenance":
            for signature in entry["resource"]["signature"]:
                signature.pop("data")
    return bundle


def test_the_generator_reproduces_the_shipped_files(tmp_path: Path) -> None:
    assert generate.main(["--out", str(tmp_path)]) == 0
    fresh = sorted((tmp_path / "bundles").glob("*.json"))
    assert [p.name for p in fresh] == [p.name for p in BUNDLE_FILES]
    for new, old in zip(fresh, BUNDLE_FILES):
        assert _without_signatures(new.read_bytes()) == _without_signatures(old.read_bytes()), new.name
    for name in ("manifest.json", "formulary.csv", "README.md"):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "pki").iterdir()) == sorted(p.name for p in (DEMO / "pki").iterdir())
