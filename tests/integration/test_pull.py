"""`rxws pull` against a real HTTP server: a small FHIR server holding the shared example prescriptions."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response
from werkzeug.datastructures import MultiDict

from workstation import cli
from workstation.adapters import secrets
from workstation.adapters.db import orm
from workstation.adapters.fhir_bundle import parse_bundle
from workstation.adapters.fhir_pull import FhirPullClient, FhirServerError
from workstation.bootstrap import Workstation
from workstation.domain import codec
from workstation.domain.errors import DomainError
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.services import pull as pull_service
from workstation.services.intake import IntakeService
from workstation.settings import FhirServerSettings

EXAMPLES = sorted((Path(__file__).resolve().parents[2].parent / "shared" / "examples").glob("ex-*.json"))
TOKEN = "tok-3f9a-very-secret"
FHIR_JSON = "application/fhir+json"
PAGE_SIZE = 4
# The server's search order; with pages of 4 the two items of RXEXCLEANHTN straddle pages 1 and 2.
MR_ORDER = [
    "mr-ex-ai-requester-0", "mr-ex-child-no-guardian-0", "mr-ex-child-ok-0", "mr-ex-clean-htn-0",
    "mr-ex-clean-htn-1", "mr-ex-first-visit-0", "mr-ex-narcotic-0", "mr-ex-psychotropic-0", "mr-ex-tampered-0",
]
NUMBERS = ["RXEXAIREQUESTER", "RXEXCHILDNOGUARDIAN", "RXEXCHILDOK", "RXEXCLEANHTN", "RXEXFIRSTVISIT",
           "RXEXNARCOTIC", "RXEXPSYCHOTROPIC", "RXEXTAMPERED"]
# Resources the example files lack but the profile reads: they prove the allergy and dispense searches run.
EXTRAS: list[dict[str, Any]] = [
    {"resourceType": "AllergyIntolerance", "id": "allergy-ex-clean-htn", "patient": {"reference": "Patient/pat-ex-clean-htn"},
     "code": {"text": "青霉素", "coding": [{"system": "http://snomed.info/sct", "code": "764146007", "display": "Penicillin"}]},
     "criticality": "high"},
    {"resourceType": "MedicationDispense", "id": "md-ex-first-visit", "status": "completed",
     "medicationCodeableConcept": {"text": "苯磺酸氨氯地平片"}, "subject": {"reference": "Patient/pat-ex-first-visit"},
     "authorizingPrescription": [{"reference": "MedicationRequest/mr-ex-first-visit-0"}],
     "whenHandedOver": "2026-05-31T18:00:00+08:00"},
    # Not body weight: the server's code filter must keep it out.
    {"resourceType": "Observation", "id": "height-ex-child-ok", "status": "final",
     "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, "subject": {"reference": "Patient/pat-ex-child-ok"},
     "valueQuantity": {"value": 101, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}},
]


def stamp(position: int) -> str:
    """The lastUpdated the server gives the item at ``position`` (1-based) of MR_ORDER."""
    return f"2026-06-01T10:{position:02d}:00.000+08:00"


# --------------------------------------------------------------------------- the fake FHIR server


@dataclass(frozen=True)
class Seen:
    path: str
    args: MultiDict[str, str]
    headers: dict[str, str]


def _outcome(status: int, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": text}]}
    return Response(json.dumps(body), status=status, content_type=FHIR_JSON)


def _ids(value: str) -> set[str]:
    return {v.rsplit("/", 1)[-1] for v in value.split(",") if v}


def _ref(resource: dict[str, Any], field: str) -> str | None:
    value = resource.get(field)
    return value.get("reference") if isinstance(value, dict) else None


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


Resources = list[dict[str, Any]]
Includes = Callable[[Resources], Resources]  # a page's matches → what the search adds to them

# Which search parameters each resource type answers, besides paging.
_PARAMS: dict[str, set[str]] = {
    "MedicationRequest": {"status", "_lastUpdated", "_sort", "_include", "_revinclude", "encounter", "patient"},
    "Condition": {"patient"},
    "RelatedPerson": {"patient"},
    "AllergyIntolerance": {"patient"},
    "Observation": {"patient", "code"},
    "PractitionerRole": {"practitioner", "_include"},
    "MedicationDispense": {"prescription"},
}
_MR_INCLUDES = {"MedicationRequest:subject": "subject", "MedicationRequest:requester": "requester",
                "MedicationRequest:encounter": "encounter", "MedicationRequest:medication": "medicationReference"}


class FakeFhirServer:
    """Answers the searches and reads a pull makes, strictly: an unknown parameter is a 400, as on real servers."""

    default_count = 2  # small, so the follow-up searches page too

    def __init__(self, base: str) -> None:
        self.base = base
        self.search_next_base = base  # where the prescription search's next links point
        self.resources: dict[str, dict[str, Any]] = {}
        self.seen: list[Seen] = []
        self.fault: Callable[[Request], Response | None] | None = None
        self.sort = True
        for path in EXAMPLES:
            for entry in json.loads(path.read_bytes())["entry"]:
                r = copy.deepcopy(entry["resource"])
                self.resources.setdefault(f"{r['resourceType']}/{r['id']}", r)
        for r in EXTRAS:
            self.resources[f"{r['resourceType']}/{r['id']}"] = copy.deepcopy(r)
        for position, mr_id in enumerate(MR_ORDER, start=1):
            self.resources[f"MedicationRequest/{mr_id}"]["meta"] = {"lastUpdated": stamp(position)}

    def handle(self, request: Request) -> Response:
        self.seen.append(Seen(request.path, MultiDict(request.args), dict(request.headers)))
        if self.fault is not None and (faulty := self.fault(request)) is not None:
            return faulty
        parts = request.path.removeprefix("/fhir/").split("/")
        if len(parts) == 2:
            found = self.resources.get("/".join(parts))
            return self._json(found) if found else _outcome(404, f"{'/'.join(parts)} not found")
        if len(parts) == 1 and parts[0] in _PARAMS:
            return self._search(parts[0], request.args)
        return _outcome(404, f"unknown path {request.path}")

    def of_type(self, rtype: str) -> Resources:
        return [r for r in self.resources.values() if r["resourceType"] == rtype]

    def _json(self, body: dict[str, Any]) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), content_type=FHIR_JSON)

    def _search(self, rtype: str, args: MultiDict[str, str]) -> Response:
        unknown = set(args) - _PARAMS[rtype] - {"_count", "_offset"}
        if unknown:
            return _outcome(400, f"unknown search parameter(s) {sorted(unknown)} for {rtype}")
        try:
            matches, includes = self._matches(rtype, args)
        except ValueError as exc:
            return _outcome(400, str(exc))
        offset, count = int(args.get("_offset", "0")), int(args.get("_count", str(self.default_count)))
        page = matches[offset:offset + count]
        entries = [{"fullUrl": f"{self.base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                   for r in page]
        keys = {f"{r['resourceType']}/{r['id']}" for r in page}
        for r in includes(page):
            key = f"{r['resourceType']}/{r['id']}"
            if key not in keys:
                keys.add(key)
                entries.append({"fullUrl": f"{self.base}/{key}", "resource": r, "search": {"mode": "include"}})
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}
        if offset + count < len(matches):
            query = [(k, v) for k, vs in args.lists() if k != "_offset" for v in vs] + [("_offset", str(offset + count))]
            base = self.search_next_base if "_sort" in args else self.base
            bundle["link"] = [{"relation": "next", "url": f"{base}/{rtype}?{urlencode(query)}"}]
        return self._json(bundle)

    def _matches(self, rtype: str, args: MultiDict[str, str]) -> tuple[Resources, Includes]:
        def no_includes(page: Resources) -> Resources:
            return []

        items = self.of_type(rtype)
        if rtype == "MedicationRequest":
            return self._medication_requests(items, args)
        if rtype == "PractitionerRole":
            wanted = _ids(args["practitioner"])
            roles = [r for r in items if (_ref(r, "practitioner") or "").rsplit("/", 1)[-1] in wanted]
            if args.getlist("_include") not in ([], ["PractitionerRole:organization"]):
                raise ValueError(f"unsupported _include {args.getlist('_include')}")

            def organizations(page: Resources) -> Resources:
                if not args.getlist("_include"):
                    return []
                return [self.resources[ref] for r in page if (ref := _ref(r, "organization")) in self.resources]

            return roles, organizations
        if rtype == "MedicationDispense":
            wanted = _ids(args["prescription"])
            dispenses = [r for r in items if {a["reference"].rsplit("/", 1)[-1] for a in r["authorizingPrescription"]} & wanted]
            return dispenses, no_includes
        field = "patient" if rtype in ("RelatedPerson", "AllergyIntolerance") else "subject"
        wanted = _ids(args["patient"])
        found = [r for r in items if (_ref(r, field) or "").rsplit("/", 1)[-1] in wanted]
        if rtype == "Observation" and "code" in args:
            system, _, code = args["code"].rpartition("|")
            found = [r for r in found if {"system": system, "code": code} in
                     [{"system": c.get("system"), "code": c.get("code")} for c in r["code"]["coding"]]]
        return found, no_includes

    def _medication_requests(self, items: Resources, args: MultiDict[str, str]) -> tuple[Resources, Includes]:
        if "encounter" in args:
            wanted = _ids(args["encounter"])
            items = [r for r in items if (_ref(r, "encounter") or "").rsplit("/", 1)[-1] in wanted]
        if "patient" in args:
            wanted = _ids(args["patient"])
            items = [r for r in items if (_ref(r, "subject") or "").rsplit("/", 1)[-1] in wanted]
        if "status" in args:
            items = [r for r in items if r["status"] == args["status"]]
        if "_lastUpdated" in args:
            value = args["_lastUpdated"]
            if not value.startswith("ge"):
                raise ValueError(f"only ge is supported in _lastUpdated, got {value!r}")
            since = _instant(value[2:])
            items = [r for r in items if _instant(r["meta"]["lastUpdated"]) >= since]
        if "_sort" in args:
            if args["_sort"] != "_lastUpdated":
                raise ValueError(f"unsupported _sort {args['_sort']!r}")
            items = sorted(items, key=lambda r: _instant(r["meta"]["lastUpdated"]), reverse=not self.sort)
        for inc in args.getlist("_include"):
            if inc not in _MR_INCLUDES:
                raise ValueError(f"unsupported _include {inc!r}")
        if args.getlist("_revinclude") not in ([], ["Provenance:target"]):
            raise ValueError(f"unsupported _revinclude {args.getlist('_revinclude')}")
        fields = [_MR_INCLUDES[i] for i in args.getlist("_include")]
        revinclude = bool(args.getlist("_revinclude"))

        def includes(page: Resources) -> Resources:
            out = [self.resources[ref] for r in page for f in fields if (ref := _ref(r, f)) in self.resources]
            if revinclude:
                keys = {f"MedicationRequest/{r['id']}" for r in page}
                out += [p for p in self.of_type("Provenance") if keys & {t["reference"] for t in p["target"]}]
            return out

        return items, includes

    def searches(self, rtype: str) -> list[Seen]:
        return [s for s in self.seen if s.path == f"/fhir/{rtype}"]


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def server(httpserver: HTTPServer) -> FakeFhirServer:
    fake = FakeFhirServer(httpserver.url_for("/fhir"))
    httpserver.expect_request(re.compile(r"^/fhir/.*")).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def fhir(server: FakeFhirServer, ws: Workstation) -> Iterator[FhirServerSettings]:
    """The workstation pointed at the fake server, with quick retries."""
    f = FhirServerSettings(base_url=server.base, page_size=PAGE_SIZE, connect_timeout=2, read_timeout=5,
                           max_retries=2, backoff_seconds=0.01)
    original = ws.settings
    ws.settings = dataclasses.replace(original, fhir_server=f)
    yield f
    ws.settings = original


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(secrets, "get_secret", lambda name: TOKEN if name == "fhir-server-token" else None)
    return TOKEN


MakeClient = Callable[..., FhirPullClient]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Clients that record their sleeps in ``sleeps`` (or must not sleep at all); closed after the test."""
    made: list[FhirPullClient] = []

    def make(settings: FhirServerSettings, sleeps: list[float] | None = None) -> FhirPullClient:
        made.append(pull_service.client_for(settings, sleep=(sleeps.append if sleeps is not None else _no_sleep)))
        return made[-1]

    yield make
    for c in made:
        c.close()


def run_pull(ws: Workstation, **kwargs: Any) -> pull_service.PullResult:
    return pull_service.pull(ws.intake, ws.uow, ws.settings.fhir_server, **kwargs)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep of {seconds} s")


@dataclass(frozen=True)
class Stored:
    version: int
    content_sha256: str
    source: str
    snapshot: PrescriptionSnapshot


def stored(ws: Workstation) -> dict[str, list[Stored]]:
    """Every stored prescription version, by number."""
    out: dict[str, list[Stored]] = {}
    with ws.uow() as uow:
        for row in uow.session.scalars(select(orm.Prescription).order_by(orm.Prescription.number, orm.Prescription.version)):
            out.setdefault(row.number, []).append(
                Stored(row.version, row.content_sha256, row.source, codec.loads(PrescriptionSnapshot, row.snapshot))
            )
    return out


def cursor_events(ws: Workstation) -> list[dict[str, Any]]:
    with ws.uow() as uow:
        details = uow.session.scalars(
            select(orm.AuditEvent.details).where(orm.AuditEvent.action == "intake.cursor_advanced").order_by(orm.AuditEvent.seq)
        ).all()
    return [json.loads(d) for d in details]


def expected_snapshots() -> dict[str, PrescriptionSnapshot]:
    """Each example file read directly, with the server-only extras of its patient added."""
    out: dict[str, PrescriptionSnapshot] = {}
    for path in EXAMPLES:
        bundle = json.loads(path.read_bytes())
        patient = next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        for extra in EXTRAS:
            refs = {_ref(extra, "patient"), _ref(extra, "subject")}
            if f"Patient/{patient}" in refs:
                bundle["entry"].append({"fullUrl": f"{extra['resourceType']}/{extra['id']}", "resource": extra})
        for snap in parse_bundle(json.dumps(bundle).encode()).prescriptions:
            out[snap.number] = snap
    return out


def without_raw_json(snap: PrescriptionSnapshot) -> PrescriptionSnapshot:
    # The stored item JSON carries the server's meta.lastUpdated; everything read from it must match.
    return dataclasses.replace(snap, items=tuple(dataclasses.replace(i, resource_json="") for i in snap.items))


def fail_page_two(kind: str) -> Callable[[Request], Response | None]:
    def fault(request: Request) -> Response | None:
        page_two = request.args.get("_offset") == str(PAGE_SIZE) and "_sort" in request.args
        if request.path == "/fhir/MedicationRequest" and page_two:
            if kind == "drop":
                request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return _outcome(500, "internal error on page 2")
        return None

    return fault


# --------------------------------------------------------------------------- tests


def test_full_pull_stores_every_example_as_reading_the_file_would(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings, token: str
) -> None:
    pages: list[str] = []
    result = run_pull(ws, client=make_client(fhir), on_page=lambda name, report: pages.append(name))

    assert (result.pages, result.stored, result.quarantined) == (3, 8, 0)
    assert result.duplicates == 1  # RXEXCLEANHTN again on page 2, where its second item matched
    assert result.cursor == stamp(len(MR_ORDER))
    assert pages == ["page 1", "page 2", "page 3"]

    rows = stored(ws)
    assert sorted(rows) == NUMBERS
    assert all(len(versions) == 1 for versions in rows.values()), "a page boundary split a prescription into versions"
    expected = expected_snapshots()
    for number, (row,) in rows.items():
        snap = row.snapshot
        assert row.content_sha256 == expected[number].content_sha256
        assert without_raw_json(snap) == without_raw_json(expected[number])
        assert row.source == f"pull:{server.base}"

    clean = rows["RXEXCLEANHTN"][0].snapshot
    assert len(clean.items) == 2 and clean.encounter is not None and clean.encounter.is_follow_up
    assert clean.diagnoses and all(d.confirmed for d in clean.diagnoses)
    assert clean.signature is not None and clean.signature.jws
    assert [a.substance.text for a in clean.patient.allergies] == ["青霉素"]
    child = rows["RXEXCHILDOK"][0].snapshot
    assert child.patient.name == "张三" and child.patient.weight_kg is not None
    assert child.encounter is not None
    assert any(p.role == "accompanying_physician" and p.name == "孙悦" for p in child.encounter.participants)
    first = rows["RXEXFIRSTVISIT"][0].snapshot
    assert [d.fhir_id for d in first.dispenses] == ["md-ex-first-visit"]

    assert all(s.headers.get("Authorization") == f"Bearer {TOKEN}" for s in server.seen)
    assert all(s.headers.get("Accept") == FHIR_JSON for s in server.seen)
    first_search = server.searches("MedicationRequest")[0].args
    assert "_lastUpdated" not in first_search and first_search["_count"] == str(PAGE_SIZE)
    assert any(s.path == "/fhir/Practitioner/prac-sun" for s in server.seen)  # a participant not in any page
    assert any(s.path.startswith("/fhir/DocumentReference/") for s in server.seen)
    assert any(s.args.get("_offset") for s in server.searches("Condition")), "follow-up searches must follow next links"

    events = cursor_events(ws)
    assert [(e["page"], e["new"]) for e in events] == [(1, stamp(4)), (2, stamp(8)), (3, stamp(9))]
    assert events[0]["old"] is None and events[1]["old"] == stamp(4)


def test_second_pull_without_new_data_stores_nothing_and_keeps_the_cursor(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    run_pull(ws, client=make_client(fhir))
    events = len(cursor_events(ws))
    server.seen.clear()

    again = run_pull(ws, client=make_client(fhir))

    assert (again.stored, again.quarantined, again.cursor) == (0, 0, stamp(len(MR_ORDER)))
    assert again.duplicates == 1  # the boundary item, read again because the search is `ge`
    assert server.searches("MedicationRequest")[0].args["_lastUpdated"] == f"ge{stamp(len(MR_ORDER))}"
    assert len(cursor_events(ws)) == events
    assert all("Authorization" not in s.headers for s in server.seen)  # no token stored: none sent


def test_503_twice_then_success(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    calls = 0

    def fault(request: Request) -> Response | None:
        nonlocal calls
        calls += 1
        return _outcome(503, "warming up") if calls <= 2 else None

    server.fault = fault
    sleeps: list[float] = []
    result = run_pull(ws, client=make_client(fhir, sleeps))

    assert result.stored == 8
    assert len(sleeps) == 2
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02  # exponential, jittered within each step


def test_429_retry_after_is_honoured(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    calls = 0

    def fault(request: Request) -> Response | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            return Response("slow down", status=429, headers={"Retry-After": "7"})
        return None

    server.fault = fault
    sleeps: list[float] = []
    result = run_pull(ws, client=make_client(fhir, sleeps))

    assert result.stored == 8
    assert sleeps == [7.0]


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_failure_mid_pull_keeps_stored_pages_and_rerun_completes(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings, kind: str
) -> None:
    server.fault = fail_page_two(kind)
    sleeps: list[float] = []
    with pytest.raises(FhirServerError) as err:
        run_pull(ws, client=make_client(fhir, sleeps))

    message = str(err.value)
    assert f"_offset={PAGE_SIZE}" in message and "after 3 attempts" in message
    assert ("HTTP 500" in message and "internal error on page 2" in message) if kind == "500" else "ConnectionError" in message
    assert len(sleeps) == fhir.max_retries
    assert sorted(stored(ws)) == ["RXEXAIREQUESTER", "RXEXCHILDNOGUARDIAN", "RXEXCHILDOK", "RXEXCLEANHTN"]
    assert pull_service.read_cursor(ws.uow, server.base) == stamp(PAGE_SIZE)

    server.fault = None
    result = run_pull(ws, client=make_client(fhir))

    assert result.stored == 4 and result.quarantined == 0
    rows = stored(ws)
    assert sorted(rows) == NUMBERS and all(len(v) == 1 for v in rows.values())
    assert result.cursor == stamp(len(MR_ORDER))
    with ws.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(orm.Prescription)) == len(NUMBERS)


def _through_the_pool(ws: Workstation, monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake's worker processes read from the first page on (three pages would not start them)."""
    monkeypatch.setattr(pull_service, "POOL_FROM_PAGES", 0)
    monkeypatch.setattr(ws, "intake", IntakeService(ws.uow, max_bundle_bytes=ws.settings.max_bundle_bytes, workers=2))


def test_pages_read_by_intakes_worker_processes_are_stored_as_the_files_would_be(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    _through_the_pool(ws, monkeypatch)
    pages: list[str] = []
    result = run_pull(ws, client=make_client(fhir), on_page=lambda name, report: pages.append(name))

    assert ws.intake.workers_used == 2
    assert (result.pages, result.stored, result.duplicates, result.quarantined) == (3, 8, 1, 0)
    assert pages == ["page 1", "page 2", "page 3"]
    expected = expected_snapshots()
    rows = stored(ws)
    assert sorted(rows) == NUMBERS
    for number, (row,) in rows.items():
        assert row.content_sha256 == expected[number].content_sha256
        assert without_raw_json(row.snapshot) == without_raw_json(expected[number])
    assert [(e["page"], e["new"]) for e in cursor_events(ws)] == [(1, stamp(4)), (2, stamp(8)), (3, stamp(9))]


def test_a_server_failure_while_workers_read_still_stores_what_was_fetched_before_it(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    _through_the_pool(ws, monkeypatch)
    server.fault = fail_page_two("500")
    with pytest.raises(FhirServerError, match="internal error on page 2"):
        run_pull(ws, client=make_client(fhir, []))
    assert ws.intake.workers_used == 2
    assert sorted(stored(ws)) == ["RXEXAIREQUESTER", "RXEXCHILDNOGUARDIAN", "RXEXCHILDOK", "RXEXCLEANHTN"]
    assert pull_service.read_cursor(ws.uow, server.base) == stamp(PAGE_SIZE)


def test_max_pages_stops_after_storing_that_many(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    result = run_pull(ws, client=make_client(fhir), max_pages=1)

    assert (result.pages, result.stored, result.cursor) == (1, 4, stamp(PAGE_SIZE))
    assert len([s for s in server.searches("MedicationRequest") if "_sort" in s.args]) == 1


def test_unsorted_server_moves_the_cursor_only_after_a_complete_run(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    server.sort = False  # newest first: a page-by-page cursor would jump past items not yet read
    server.fault = fail_page_two("500")
    with pytest.raises(FhirServerError):
        run_pull(ws, client=make_client(fhir, []))
    assert stored(ws) and pull_service.read_cursor(ws.uow, server.base) is None

    server.fault = None
    result = run_pull(ws, client=make_client(fhir))
    assert sorted(stored(ws)) == NUMBERS
    assert result.cursor == stamp(len(MR_ORDER)) == pull_service.read_cursor(ws.uow, server.base)


def test_401_fails_at_once_without_leaking_the_token(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings, token: str
) -> None:
    server.fault = lambda request: _outcome(401, f"bearer token {request.headers['Authorization'][7:]} is not valid")
    with pytest.raises(FhirServerError) as err:
        run_pull(ws, client=make_client(fhir))

    assert len(server.seen) == 1
    assert "HTTP 401" in str(err.value) and "is not valid" in str(err.value)
    assert TOKEN not in str(err.value) and TOKEN not in repr(err.value.args)
    assert pull_service.read_cursor(ws.uow, server.base) is None


def test_next_link_to_another_host_is_refused(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings, token: str
) -> None:
    assert "//localhost:" in server.base
    server.search_next_base = server.base.replace("//localhost:", "//127.0.0.1:")  # same server, another host name
    with pytest.raises(FhirServerError) as err:
        run_pull(ws, client=make_client(fhir))

    assert "another server" in str(err.value) and "127.0.0.1" in str(err.value)
    assert not any(s.headers.get("Host", "").startswith("127.0.0.1") for s in server.seen)
    # Page 1 itself was sound: it is stored, and the cursor marks it.
    assert len(stored(ws)) == 4 and pull_service.read_cursor(ws.uow, server.base) == stamp(PAGE_SIZE)


def test_a_response_that_is_not_json_is_an_error(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    server.fault = lambda request: Response("<html><body>Login</body></html>", content_type="text/html")
    with pytest.raises(FhirServerError) as err:
        run_pull(ws, client=make_client(fhir))

    assert "not JSON" in str(err.value) and "text/html" in str(err.value) and "Login" in str(err.value)
    assert len(server.seen) == 1


def test_a_json_answer_that_is_not_a_bundle_is_an_error(
    ws: Workstation, make_client: MakeClient, server: FakeFhirServer, fhir: FhirServerSettings
) -> None:
    server.fault = lambda request: Response(json.dumps({"resourceType": "Patient", "id": "x"}), content_type=FHIR_JSON)
    with pytest.raises(FhirServerError, match="not a FHIR Bundle"):
        run_pull(ws, client=make_client(fhir))


def test_no_base_url_says_where_to_set_it(ws: Workstation) -> None:
    with pytest.raises(DomainError) as err:
        run_pull(ws)
    assert "[fhir_server] base_url" in str(err.value) and "RXWS_FHIR_BASE_URL" in str(err.value)


def test_cli_pull(
    ws: Workstation, server: FakeFhirServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], token: str
) -> None:
    monkeypatch.setenv("RXWS_CONFIG_DIR", str(ws.settings.config_dir))
    monkeypatch.setenv("RXWS_DATA_DIR", str(ws.settings.data_dir))
    monkeypatch.setenv("RXWS_DATABASE_URL", ws.settings.database_url)
    monkeypatch.setenv("RXWS_FHIR_BASE_URL", server.base)

    assert cli.main(["pull"]) == 0
    out = capsys.readouterr().out
    assert "pull done: 1 pages, 8 stored, 0 duplicates, 0 quarantined" in out and stamp(len(MR_ORDER)) in out

    server.fault = lambda request: _outcome(401, "expired")
    assert cli.main(["pull"]) == cli.EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert "HTTP 401" in err and TOKEN not in err
