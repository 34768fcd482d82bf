"""Tests for the demo data generator: valid FHIR, signatures as their cases say, every rule, dates that move, no keys.

The demo is made when it is loaded; here it is made at a fixed moment and written to a temporary folder.
"""

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
from cryptography.hazmat.primitives import hashes
from fhir.resources.R4B import get_fhir_model_class

from resources.demo import generate
from tests.demo_support import FIXED_NOW, demo_set
from workstation.adapters.jws import JwsError, leaf_serial_number, verify_detached
from workstation.domain.canonical import prescription_content
from workstation.domain.formulary import FORMULARY_LABEL_COLUMNS

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
DEMO = RESOURCES / "demo"
SHARED_RULES = Path("/work/shared/reference/review-rules.md")
SHARED_FORMULARY = Path("/work/shared/examples/formulary.csv")
LICENCE_SYSTEM = "https://rxws.example.org/fhir/sid/physician-license"
SIGNATURE_RULES = frozenset({"signature.missing", "signature.invalid"})

NAMES = [c.file_name for c in generate.CASES]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo set of the fixed moment, written as `python -m resources.demo.generate --out DIR` writes it."""
    folder = tmp_path_factory.mktemp("demo")
    assert generate.main(["--out", str(folder), "--now", FIXED_NOW.isoformat()]) == 0
    return folder


MANIFEST: dict[str, Any] = demo_set().manifest()
CA = demo_set().ca


def _is_signature_case(name: str) -> bool:
    return bool(SIGNATURE_RULES.intersection(MANIFEST["bundles"][name]["expect"]))


SIGNED_CASES = [n for n in NAMES if not _is_signature_case(n)]
SIGNATURE_CASES = [n for n in NAMES if _is_signature_case(n)]


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

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        self.name = name
        self.data = data
        self.by_url = {e["fullUrl"]: e["resource"] for e in self.data["entry"]}
        self.requests = [r for r in self.by_url.values() if r["resourceType"] == "MedicationRequest"]
        self.provenances = [r for r in self.by_url.values() if r["resourceType"] == "Provenance"]

    @classmethod
    def read(cls, path: Path) -> _Bundle:
        return cls(path.name, json.loads(path.read_text("utf-8")))

    @classmethod
    def made(cls, name: str, now: dt.datetime = FIXED_NOW) -> _Bundle:
        return cls(name, json.loads(next(b.data for b in demo_set(now).bundles if b.file_name == name)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.by_url.values() if r["resourceType"] == kind]

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


def test_the_written_set_is_the_manifest_s(out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert sorted(manifest["bundles"]) == sorted(p.name for p in (out / "bundles").glob("*.json")) == sorted(NAMES)
    assert len(NAMES) >= 40
    assert dt.datetime.fromisoformat(manifest["review_at"]) == FIXED_NOW
    assert (out / manifest["formulary"]).is_file() and (out / manifest["trust_anchor"]).is_file()


def test_nothing_frozen_ships() -> None:
    """The demo is made when it is loaded: no bundles, certificates or manifest under resources/demo."""
    assert not (DEMO / "bundles").exists() and not (DEMO / "pki").exists() and not (DEMO / "manifest.json").exists()
    assert not list(DEMO.rglob("*.pem")) and not list(DEMO.rglob("*.json"))


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
    assert sum(1 for c in cases if len(c["expect"]) <= 1) >= len(cases) - 2


def test_at_least_ten_clean_chronic_follow_ups() -> None:
    """A new user has clean chronic follow-ups to approve right away, each for a confirmed offline diagnosis."""
    clean = [c for c in generate.CASES if generate.is_clean_chronic_follow_up(c)]
    assert len(clean) >= 10
    assert {c.file_name for c in clean} == {n for n, c in MANIFEST["bundles"].items() if c["clean_chronic_follow_up"]}
    for case in clean:
        bundle = _Bundle.made(case.file_name)
        patient = next(r for r in bundle.by_url.values() if r["resourceType"] == "Patient")
        assert patient["name"][0]["text"] and patient["address"][0]["text"], case.file_name
        conditions = [r for r in bundle.by_url.values() if r["resourceType"] == "Condition"]
        for request in bundle.requests:
            code = request["reasonCode"][0]["coding"][0]["code"]
            backing = [c for c in conditions if c["code"]["coding"][0]["code"] == code]
            assert backing and all(c["verificationStatus"]["coding"][0]["code"] == "confirmed" and c.get("evidence")
                                   for c in backing), (case.file_name, code)
        assert bundle.provenances, case.file_name


# --------------------------------------------------------------------------- the bundles


@pytest.mark.parametrize("name", NAMES)
def test_bundle_is_valid_fhir_r4b(name: str, out: Path) -> None:
    bundle = _Bundle.read(out / "bundles" / name)
    get_fhir_model_class("Bundle").model_validate(bundle.data)
    for resource in bundle.by_url.values():
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert bundle.data["type"] == "collection"
    numbers = {r["groupIdentifier"]["value"] for r in bundle.requests}
    assert numbers == {MANIFEST["bundles"][name]["prescription"]}


LATER = dt.datetime(2029, 3, 1, 0, 0, 40, tzinfo=generate.TZ)  # just after midnight, 821 days on


@pytest.mark.parametrize("now", [FIXED_NOW, LATER], ids=["demo-day", "later"])
def test_prescriptions_are_authored_minutes_before_now_on_its_day(now: dt.datetime) -> None:
    """Valid on the calendar day they are written (at +08:00): authored today, minutes before now."""
    for b in demo_set(now).bundles:
        if "validity.expired" in b.case.expect:
            assert now - b.authored > dt.timedelta(days=3), b.file_name
            continue
        assert b.authored.date() == now.astimezone(generate.TZ).date(), b.file_name
        assert now - generate.AUTHORED_SPAN <= b.authored < now, b.file_name


def test_every_date_moves_with_now() -> None:
    """Ages, years of practice, diagnoses and certificates keep their meaning on any day."""
    delta = dt.timedelta(days=(LATER.date() - FIXED_NOW.date()).days)
    assert generate.shift_for(LATER) == delta and generate.shift_for(FIXED_NOW) == dt.timedelta(0)
    for name in NAMES:
        then, later = _Bundle.made(name), _Bundle.made(name, LATER)
        for kind, path in (("Patient", "birthDate"), ("Condition", "recordedDate"),
                           ("AllergyIntolerance", "recordedDate")):
            for a, b in zip(then.of(kind), later.of(kind), strict=True):
                if len(a[path]) == 10:
                    assert dt.date.fromisoformat(b[path]) - dt.date.fromisoformat(a[path]) == delta, (name, kind)
                else:
                    assert a[path] == b[path]  # a year only (the unknown-age case) stays as it is
        for a, b in zip(then.of("Practitioner"), later.of("Practitioner"), strict=True):
            start = [dt.date.fromisoformat(x["qualification"][0]["period"]["start"]) for x in (a, b)]
            assert start[1] - start[0] == delta
    later_ca = demo_set(LATER).ca
    assert later_ca.not_valid_before_utc - CA.not_valid_before_utc == delta
    expired = demo_set(LATER).certificates["physician-zhou-expired"]
    assert expired.not_valid_after_utc < LATER < demo_set(LATER).certificates["physician-zhou"].not_valid_after_utc


def test_each_set_has_its_own_numbers_and_ca() -> None:
    a, b = demo_set(), generate.build_demo(FIXED_NOW + dt.timedelta(seconds=1))
    assert not {x.number for x in a.bundles} & {x.number for x in b.bundles}
    assert a.ca.fingerprint(hashes.SHA256()) != b.ca.fingerprint(hashes.SHA256())
    same = generate.build_demo(FIXED_NOW, series="X1")
    assert [x.number for x in same.bundles] == [f"RXDEMOX1{c.nn:03d}" for c in generate.CASES]


def test_staff_certificates_are_issued_by_the_demo_ca_for_their_licence() -> None:
    demo = generate.build_demo(FIXED_NOW, staff=[generate.StaffMember("YS-DEMO-0001", "李药师")])
    signer = demo.staff["YS-DEMO-0001"]
    leaf = signer.chain[0]
    leaf.verify_directly_issued_by(demo.ca)
    assert leaf_serial_number(leaf) == "YS-DEMO-0001" and leaf.not_valid_before_utc <= FIXED_NOW
    assert signer.chain[1] == demo.ca
    assert all(b"PRIVATE KEY" not in data for data in demo.files().values())


@pytest.mark.parametrize("name", SIGNED_CASES)
def test_signature_verifies_for_the_prescriber(name: str) -> None:
    bundle = _Bundle.made(name)
    token, content = bundle.signature()
    leaf = verify_detached(token, content)
    licence = bundle.requester_licence()
    assert licence is not None
    assert leaf_serial_number(leaf) == licence
    leaf.verify_directly_issued_by(CA)
    assert leaf.not_valid_before_utc <= bundle.authored <= leaf.not_valid_after_utc


@pytest.mark.parametrize("name", SIGNATURE_CASES)
def test_signature_cases_fail_for_a_reason(name: str) -> None:
    bundle = _Bundle.made(name)
    if "signature.missing" in MANIFEST["bundles"][name]["expect"]:
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
    assert reasons, f"{name} is meant to carry an invalid signature, but its signature is valid"


# --------------------------------------------------------------------------- files and keys


def test_no_file_under_resources_holds_a_private_key() -> None:
    offenders = [
        str(p.relative_to(REPO)) for p in RESOURCES.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()
    ]
    assert not offenders


def test_pki_holds_only_certificates(out: Path) -> None:
    pems = sorted((out / "pki").glob("*.pem"))
    assert "demo-ca.pem" in [p.name for p in pems]
    assert len(pems) >= 7
    for p in pems:
        text = p.read_text("ascii")
        assert set(re.findall(r"-----BEGIN ([A-Z ]+)-----", text)) == {"CERTIFICATE"}, p.name
        assert len(x509.load_pem_x509_certificates(p.read_bytes())) == 1, p.name
    assert sorted(p.name for p in (out / "pki").iterdir()) == [p.name for p in pems]
    assert not [p for p in out.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]


def test_formulary_has_the_import_columns_and_every_stocked_drug(out: Path) -> None:
    header, *rows = (out / "formulary.csv").read_text("utf-8").splitlines()
    if SHARED_FORMULARY.is_file():  # the shared import columns, then the optional label columns
        assert header == SHARED_FORMULARY.read_text("utf-8").splitlines()[0] + "," + ",".join(FORMULARY_LABEL_COLUMNS)
    codes = {row.split(",", 1)[0] for row in rows}
    for name in NAMES:
        for request in _Bundle.read(out / "bundles" / name).requests:
            drug_codes = [c["code"] for c in request["medicationCodeableConcept"]["coding"]
                          if c["system"] == "https://rxws.example.org/fhir/CodeSystem/drug"]
            if "catalog.unknown_drug" in MANIFEST["bundles"][name]["expect"]:
                assert not set(drug_codes) & codes
            else:
                assert drug_codes and set(drug_codes) <= codes, (name, drug_codes)


def _without_signatures(data: bytes) -> Any:
    bundle = json.loads(data)
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Provenance":
            for signature in entry["resource"]["signature"]:
                signature.pop("data")
    return bundle


def test_two_sets_for_the_same_moment_differ_only_in_certificates_and_signatures() -> None:
    a, b = demo_set(), generate.build_demo(FIXED_NOW)
    assert [x.number for x in a.bundles] == [x.number for x in b.bundles]
    for x, y in zip(a.bundles, b.bundles, strict=True):
        assert _without_signatures(x.data) == _without_signatures(y.data), x.file_name
    assert a.manifest() == b.manifest()


def test_the_readme_tables_match_the_case_table() -> None:
    """resources/demo/README.md says what the generator makes (`--update-readme` rewrites its tables)."""
    text = (DEMO / "README.md").read_text("utf-8")
    assert generate.readme_text(text) == text


def test_the_command_line_needs_a_zone_in_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        generate.main(["--out", str(tmp_path), "--now", "2026-12-01T11:30:00"])
    assert exc.value.code == 2 and "UTC offset" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
