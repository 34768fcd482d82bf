"""Read a FHIR R4 bundle (intake profile) into prescription snapshots, or say exactly why not.

Every resource is validated with fhir.resources (R4B models, which read R4 JSON for every resource
this profile uses). A bad resource spoils only the prescriptions that need it: a prescription
whose patient or drug cannot be resolved is rejected; one whose prescriber, visit or diagnosis
cannot be resolved is kept, with the gap written into ``intake_notes`` for the rules to judge.
"""

from __future__ import annotations

import base64
import binascii
import json
import marshal
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from workstation.domain.canonical import content_sha256
from workstation.domain.errors import DomainError
from workstation.domain.prescription import (
    Allergy,
    Coding,
    Concept,
    Diagnosis,
    Dispense,
    Encounter,
    Item,
    ParsedBundle,
    Participant,
    Patient,
    Prescriber,
    PrescriberKind,
    PrescriptionSnapshot,
    RejectedPart,
    RelatedPerson,
    Signature,
    UnreadableResource,
)

RXWS = "https://rxws.example.org/fhir"
LICENCE_SYSTEM = f"{RXWS}/sid/physician-license"
REAL_NAME_EXT = f"{RXWS}/StructureDefinition/real-name-verified"
SKIN_TEST_EXT = f"{RXWS}/StructureDefinition/skin-test-result"
DIAGNOSIS_SOURCE_SYSTEM = f"{RXWS}/CodeSystem/diagnosis-source"
DIAGNOSIS_SOURCES = frozenset({"outpatient-record", "inpatient-record", "discharge-summary", "diagnosis-certificate"})
ICD10_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", f"{RXWS}/CodeSystem/icd-10-cn"})
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
GUARDIAN_CODES = frozenset({"GUARD", "PRN", "MTH", "FTH"})
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SNOMED = "http://snomed.info/sct"
FOLLOW_UP_CODE = "390906007"
LOINC = "http://loinc.org"
BODY_WEIGHT_CODE = "29463-7"
AUTHOR_SIGNATURE = "1.2.840.10065.1.12.1.1"

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_VALIDATION_CACHE_SIZE = 20_000


class BundleRejected(DomainError):
    """The whole bundle cannot be read; ``reason`` says why in words a person can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- decoding


def decode_bundle(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Bytes → the Bundle's JSON object, or BundleRejected naming what is wrong."""
    if len(raw) > max_bytes:
        raise BundleRejected(
            f"文件过大 / file too large: {len(raw):,} bytes, the limit is {max_bytes:,} bytes"
        )
    if not raw.strip():
        raise BundleRejected("文件为空 / the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleRejected(
            f"不是 UTF-8 文本 / not UTF-8 text: invalid byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        ) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BundleRejected(
            f"不是合法 JSON / not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BundleRejected("JSON 嵌套过深 / JSON nested too deeply to be a FHIR bundle") from None
    except ValueError as exc:  # NaN/Infinity, integers past the interpreter's digit limit
        raise BundleRejected(f"不是合法 JSON / not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BundleRejected(f"不是 FHIR 资源 / not a FHIR resource: the top level is a JSON {_json_type(data)}")
    rtype = data.get("resourceType")
    if rtype != "Bundle":
        raise BundleRejected(
            f"不是 FHIR Bundle / not a FHIR Bundle: resourceType is {rtype!r}" if rtype is not None
            else "不是 FHIR 资源 / not a FHIR resource: no resourceType"
        )
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


# --------------------------------------------------------------------------- validation

_validation_cache: OrderedDict[bytes, str | None] = OrderedDict()
# Resources that recur from bundle to bundle (the same patient, physician, hospital, diagnosis) are
# validated once per content; the per-prescription ones (and the Bundle envelope, with its own id
# and timestamp) are new every time and skip the cache key.
_UNCACHED_TYPES = frozenset({"Bundle", "MedicationRequest", "Encounter", "Provenance", "MedicationDispense"})
# The cache key is the resource in marshal format 2: exact (it round-trips, and keeps 1, 1.0 and true
# apart), so equal keys mean equal content; unlike later formats it has no back-references or
# interning marks, so the bytes depend on the content alone (and its key order: content in another
# order merely misses). It costs a seventh of json.dumps(sort_keys=True).
_KEY_FORMAT = 2


def validate_resource(resource: Mapping[str, Any]) -> str | None:
    """None when the resource is valid FHIR, else a short reason. Identical content is validated once."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return "no resourceType"
    if rtype in _UNCACHED_TYPES:
        return _validate(rtype, resource)
    try:
        key = marshal.dumps(resource if isinstance(resource, dict) else dict(resource), _KEY_FORMAT)
    except ValueError:  # nested too deeply to marshal: validate it without a cache entry
        return _validate(rtype, resource)
    if key in _validation_cache:
        _validation_cache.move_to_end(key)
        return _validation_cache[key]
    error = _validate(rtype, resource)
    _remember(key, error)
    if _fresh is not None:
        _fresh.append((key, error))
    return error


# Validations done here since the last take_validations(), for processes that share them.
_fresh: list[tuple[bytes, str | None]] | None = None


def take_validations() -> list[tuple[bytes, str | None]]:
    """The cache entries validated in this process since the last call (the first call starts recording).

    Worker processes reading bundles side by side pass them on to each other: the same patient's
    resources then cost one validation, not one in every process.
    """
    global _fresh
    fresh, _fresh = _fresh or [], []
    return fresh


def learn_validations(entries: Iterable[tuple[bytes, str | None]]) -> None:
    """Add cache entries that another process validated (with this same code) from take_validations()."""
    for key, error in entries:
        if key not in _validation_cache:
            _remember(key, error)


def _remember(key: bytes, error: str | None) -> None:
    _validation_cache[key] = error
    if len(_validation_cache) > _VALIDATION_CACHE_SIZE:
        _validation_cache.popitem(last=False)


def _validate(rtype: str, resource: Mapping[str, Any]) -> str | None:
    try:
        model = get_fhir_model_class(rtype)
    except (KeyError, ValueError):
        error: str | None = f"unknown resourceType {rtype!r}"
    else:
        try:
            model.model_validate(resource)
            error = None
        except ValidationError as exc:
            error = _summarise(exc)
        except RecursionError:
            error = "nested too deeply"
        except (TypeError, ValueError) as exc:  # the models raise these for some malformed values
            error = str(exc)[:300]
    return error


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "(resource)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


# --------------------------------------------------------------------------- references


@dataclass(frozen=True, slots=True)
class _Entry:
    resource: dict[str, Any]  # exactly as received: signatures are over these bytes
    rtype: str
    key: str  # how we name it in messages: Type/id, else the fullUrl, else "entry[i]"; contained: Container#id
    full_url: str | None = None
    # A container and its contained resources point at each other: kept out of ==, hash and repr (no cycles).
    container: _Entry | None = field(default=None, compare=False, repr=False)  # for a contained resource: its holder
    local: dict[str, _Entry] = field(default_factory=dict, compare=False, repr=False)  # container: "#id" -> contained

    @property
    def rid(self) -> str:
        """The resource id, or for a resource without one (transaction POSTs) the tail of its fullUrl."""
        rid = self.resource.get("id")
        if isinstance(rid, str) and rid:
            return rid
        return _id_from_url(self.full_url) if self.full_url else self.key

    @property
    def host(self) -> _Entry:
        """The resource whose ``contained`` local references ("#id") are resolved in: its container, or itself."""
        return self.container or self


class _Index:
    """Resolves references inside one bundle: fullUrl, Type/id, absolute URLs, conditional refs."""

    def __init__(self) -> None:
        self.by_ref: dict[str, _Entry] = {}
        self.invalid: dict[str, str] = {}
        self.by_identifier: dict[tuple[str, str | None, str], _Entry] = {}
        self.by_type: dict[str, list[_Entry]] = {}

    def add(self, entry: _Entry, full_url: str | None) -> None:
        for ref in _names(entry.resource, entry.rtype, full_url):
            self.by_ref.setdefault(ref, entry)
        self.by_type.setdefault(entry.rtype, []).append(entry)
        self._add_contained(entry)
        for ident in _list(entry.resource.get("identifier")):
            if isinstance(ident, dict) and isinstance(ident.get("value"), str):
                system = ident.get("system") if isinstance(ident.get("system"), str) else None
                self.by_identifier.setdefault((entry.rtype, system, ident["value"]), entry)
                self.by_identifier.setdefault((entry.rtype, None, ident["value"]), entry)

    def _add_contained(self, container: _Entry) -> None:
        """A container's contained resources (FHIR R4 §2.11): reachable only by "#id" from the container
        and from each other, but seen by the type scans (a contained Condition is still the patient's)."""
        for i, inner in enumerate(_list(container.resource.get("contained"))):
            if not isinstance(inner, dict) or not isinstance(inner.get("resourceType"), str):
                continue
            rid = _str(inner.get("id"))
            contained = _Entry(inner, inner["resourceType"], f"{container.key}#{rid or f'contained[{i}]'}", None, container)
            if rid is not None:
                container.local.setdefault(f"#{rid}", contained)
            self.by_type.setdefault(contained.rtype, []).append(contained)

    def add_invalid(self, rtype: str | None, resource: Mapping[str, Any], full_url: str | None, reason: str) -> None:
        for ref in _names(resource, rtype, full_url):
            self.invalid.setdefault(ref, reason)

    def resolve(self, reference: Any, *types: str, at: _Entry | None = None) -> tuple[_Entry | None, str | None]:
        """(entry, None) when found; (None, why) otherwise. ``types`` limits what may be pointed at;
        ``at`` is the resource the reference is written in, where local references ("#id") are looked up."""
        if not isinstance(reference, dict):
            return None, None
        ref = reference.get("reference")
        if not isinstance(ref, str) or not ref:
            return None, None
        if ref.startswith("#"):
            return self._local(ref, types, at)
        entry = self.by_ref.get(ref)
        if entry is None:
            m = _ABSOLUTE.match(ref)
            if m:
                entry = self.by_ref.get(f"{m['type']}/{m['id']}")
        if entry is None and "?" in ref:
            entry = self._conditional(ref)
        if entry is None:
            bad = self.invalid.get(ref)
            if bad is not None:
                return None, f"{ref} is not valid FHIR ({bad})"
            return None, f"{ref} is not in the bundle"
        if types and entry.rtype not in types:
            return None, f"{ref} is a {entry.rtype}, expected {' or '.join(types)}"
        return entry, None

    @staticmethod
    def _local(ref: str, types: tuple[str, ...], at: _Entry | None) -> tuple[_Entry | None, str | None]:
        if at is None:
            return None, f"{ref} is a local reference outside any resource"
        host = at.host
        entry = host if ref == "#" else host.local.get(ref)
        if entry is None:
            return None, f"{ref} is not contained in {host.key}"
        if types and entry.rtype not in types:
            return None, f"{ref} is a {entry.rtype}, expected {' or '.join(types)}"
        return entry, None

    def _conditional(self, ref: str) -> _Entry | None:
        rtype, _, query = ref.partition("?")
        values = parse_qs(query).get("identifier")
        if not values:
            return None
        system, sep, value = values[0].rpartition("|")
        return self.by_identifier.get((rtype, system if sep else None, value))


_ABSOLUTE = re.compile(r"^(?:https?://.*/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/.*)?$")


def _names(resource: Mapping[str, Any], rtype: str | None, full_url: str | None) -> Iterator[str]:
    if full_url:
        yield full_url
        m = _ABSOLUTE.match(full_url)
        if m:
            yield f"{m['type']}/{m['id']}"
    rid = resource.get("id")
    if rtype and isinstance(rid, str) and rid:
        yield f"{rtype}/{rid}"


# --------------------------------------------------------------------------- small readers


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _datetime(value: Any) -> datetime | None:
    """A FHIR dateTime/instant with a time and a zone, else None (partial dates are not instants)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _full_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _concept(value: Any) -> Concept:
    v = _dict(value)
    codings = tuple(
        Coding(_str(c.get("system")), _str(c.get("code")), _str(c.get("display")))
        for c in _list(v.get("coding"))
        if isinstance(c, dict)
    )
    return Concept(codings, _str(v.get("text")))


def _human_name(resource: Mapping[str, Any]) -> str | None:
    for n in _list(resource.get("name")):
        if not isinstance(n, dict):
            continue
        if _str(n.get("text")):
            return _str(n.get("text"))
        family = _str(n.get("family")) or ""
        given = " ".join(g for g in _list(n.get("given")) if isinstance(g, str))
        joined = f"{given} {family}".strip()
        if joined:
            return joined
    return None


def _ext(resource: Mapping[str, Any], url: str) -> dict[str, Any] | None:
    for e in _list(resource.get("extension")):
        if isinstance(e, dict) and e.get("url") == url:
            return e
    return None


def _refs_to(index: _Index, value: Any, target: _Entry, at: _Entry) -> bool:
    """Whether ``value``, a reference written in ``at``, points at ``target``."""
    entry, _ = index.resolve(value, at=at)
    return entry is target


# --------------------------------------------------------------------------- parsing


def parse_bundle(raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedBundle:
    """Parse one bundle. Raises BundleRejected only when nothing in it can be read."""
    data = decode_bundle(raw, max_bytes=max_bytes)
    try:
        return _parse(data)
    except RecursionError:
        raise BundleRejected("资源嵌套过深 / a resource is nested too deeply to be read") from None


def _parse(data: dict[str, Any]) -> ParsedBundle:
    envelope_error = validate_resource({k: v for k, v in data.items() if k != "entry"})
    if envelope_error:
        raise BundleRejected(f"Bundle 本身无效 / the Bundle itself is invalid: {envelope_error}")
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        raise BundleRejected("Bundle.entry 不是数组 / Bundle.entry is not an array")
    index = _Index()
    rejected: list[RejectedPart] = []
    orphan_invalid: list[str] = []
    unread: list[_Invalid] = []
    bad_requests: dict[tuple[str | None, str], list[str]] = {}
    for i, raw_entry in enumerate(entries):
        if not isinstance(raw_entry, dict):
            orphan_invalid.append(f"entry[{i}] is a JSON {_json_type(raw_entry)}, not an object")
            continue
        full_url = _str(raw_entry.get("fullUrl"))
        resource = raw_entry.get("resource")
        if not isinstance(resource, dict):
            if "resource" in raw_entry:
                orphan_invalid.append(f"entry[{i}].resource is not an object")
            continue
        rtype = resource.get("resourceType") if isinstance(resource.get("resourceType"), str) else None
        key = f"{rtype}/{resource['id']}" if rtype and isinstance(resource.get("id"), str) else (full_url or f"entry[{i}]")
        error = validate_resource(resource)
        if error is not None:
            index.add_invalid(rtype, resource, full_url, error)
            if rtype == "MedicationRequest":
                group = _group_key(resource, full_url)
                bad_requests.setdefault(group or (None, key), []).append(f"{key}: {error}")
            else:
                orphan_invalid.append(f"{key}: {error}")
                if rtype is None or rtype in _REVIEWED:
                    unread.append(_Invalid(rtype, key, resource, error))
            continue
        assert rtype is not None  # validated resources have a type
        index.add(_Entry(resource, rtype, key, full_url), full_url)

    groups: dict[tuple[str | None, str], list[_Entry]] = {}
    for entry in index.by_type.get("MedicationRequest", []):
        group = _group_key(entry.resource, entry.full_url)
        if group is None:
            rejected.append(RejectedPart(None, f"{entry.key}: MedicationRequest 既无 id 也无 groupIdentifier / has neither id nor groupIdentifier", (entry.key,)))
            continue
        groups.setdefault(group, []).append(entry)

    for group, reasons in bad_requests.items():
        members = groups.pop(group, [])
        rejected.append(
            RejectedPart(
                group[1],
                "处方中有无效的药品条目 / the prescription has invalid items: " + "; ".join(reasons),
                tuple(e.key for e in members),
            )
        )

    prescriptions: list[PrescriptionSnapshot] = []
    for (system, number), members in groups.items():
        try:
            prescriptions.append(_prescription(index, system, number, members, unread))
        except _Unresolvable as exc:
            rejected.append(RejectedPart(number, exc.reason, tuple(e.key for e in members)))

    if not prescriptions and not rejected:
        detail = f" ({'; '.join(orphan_invalid[:3])})" if orphan_invalid else ""
        raise BundleRejected(f"Bundle 中没有处方 / the bundle holds no MedicationRequest{detail}")
    return ParsedBundle(_str(data.get("id")), _str(data.get("type")), tuple(prescriptions), tuple(rejected))


def _id_from_url(full_url: str) -> str:
    return full_url.rsplit("/", 1)[-1].removeprefix("urn:uuid:")


def _group_key(resource: Mapping[str, Any], full_url: str | None) -> tuple[str | None, str] | None:
    gi = _dict(resource.get("groupIdentifier"))
    value = _str(gi.get("value"))
    if value:
        return (_str(gi.get("system")), value)
    rid = _str(resource.get("id")) or (_id_from_url(full_url) if full_url else None)
    return ("", rid) if rid else None


class _Unresolvable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Resource types the review reads besides the MedicationRequests and the Patient. One of these that fails
# validation is kept on the record (an intake note, and evidence of the rules that need it), never dropped.
_REVIEWED = frozenset({"Condition", "Encounter", "RelatedPerson", "AllergyIntolerance", "Observation", "DocumentReference",
                       "Organization", "Practitioner", "PractitionerRole", "Provenance", "MedicationDispense", "Medication",
                       "Substance", "Device"})


@dataclass(frozen=True, slots=True)
class _Invalid:
    rtype: str | None
    key: str
    resource: Mapping[str, Any]
    reason: str


def _concerns(index: _Index, bad: _Invalid, patient: _Entry, members: list[_Entry]) -> bool:
    """Whether an unreadable resource may belong to this prescription. It is read as far as its references
    go: one that names another patient, or only other prescriptions' items, is not this one's; one whose
    links cannot be read counts as this one's (fail closed)."""
    for name in ("subject", "patient"):
        linked, _ = index.resolve(bad.resource.get(name))
        if linked is not None:
            return linked is patient
    targets = [*_list(bad.resource.get("target")), *_list(bad.resource.get("authorizingPrescription"))]
    if targets:
        resolved = [index.resolve(t)[0] for t in targets]
        if all(r is not None for r in resolved):
            keys = {e.key for e in members}
            return any(r is not None and r.key in keys for r in resolved)
    return True


def _prescription(index: _Index, system: str | None, number: str, members: list[_Entry],
                  unread: Iterable[_Invalid] = ()) -> PrescriptionSnapshot:
    members = sorted(members, key=lambda e: e.rid)
    notes: list[str] = []

    patient_entry = _single_patient(index, members)
    unreadable = tuple(UnreadableResource(b.rtype, b.key, b.reason) for b in unread
                       if _concerns(index, b, patient_entry, members))
    notes.extend(u.note for u in unreadable)
    items = tuple(_item(index, e, notes) for e in members)

    prescriber = _prescriber(index, members, notes)
    encounter = _encounter(index, members, prescriber, notes)
    patient = _patient(index, patient_entry)
    related = tuple(
        _related_person(e) for e in index.by_type.get("RelatedPerson", []) if _refs_to(index, e.resource.get("patient"), patient_entry, e)
    )
    diagnoses = tuple(
        _diagnosis(index, e) for e in index.by_type.get("Condition", []) if _refs_to(index, e.resource.get("subject"), patient_entry, e)
    )
    item_refs = {e.key for e in members}
    signature = _signature(index, members, item_refs, notes)
    dispenses = tuple(_dispenses(index, members))
    return PrescriptionSnapshot(
        number=number,
        group_system=system or None,
        content_sha256=content_sha256(e.resource for e in members),
        items=items,
        patient=patient,
        related_persons=related,
        diagnoses=diagnoses,
        prescriber=prescriber,
        encounter=encounter,
        signature=signature,
        dispenses=dispenses,
        intake_notes=tuple(dict.fromkeys(notes)),
        unreadable=unreadable,
    )


def _single_patient(index: _Index, members: list[_Entry]) -> _Entry:
    found: _Entry | None = None
    for e in members:
        subject = e.resource.get("subject")
        entry, why = index.resolve(subject, "Patient", at=e)
        if entry is None:
            ref = _dict(subject).get("reference")
            raise _Unresolvable(
                f"{e.key}: 患者无法解析 / the patient cannot be resolved: "
                + (why or ("no subject" if ref is None else f"subject {ref!r}"))
            )
        if found is not None and entry is not found:
            raise _Unresolvable(f"{e.key}: 同一处方的条目属于不同患者 / items of one prescription name different patients")
        found = entry
    assert found is not None
    return found


def _patient(index: _Index, entry: _Entry) -> Patient:
    r = entry.resource
    ident_system = ident_value = None
    for ident in _list(r.get("identifier")):
        if isinstance(ident, dict) and _str(ident.get("value")):
            ident_system, ident_value = _str(ident.get("system")), _str(ident.get("value"))
            break
    phones = tuple(
        t["value"] for t in _list(r.get("telecom"))
        if isinstance(t, dict) and t.get("system") in ("phone", "sms", None) and _str(t.get("value"))
    )
    address = None
    for a in _list(r.get("address")):
        if isinstance(a, dict):
            address = _str(a.get("text")) or " ".join(
                p for p in [*_list(a.get("line")), a.get("district"), a.get("city"), a.get("state")] if isinstance(p, str)
            ) or None
            if address:
                break
    allergies = tuple(
        Allergy(_str(e.resource.get("id")), _concept(e.resource.get("code")), _str(e.resource.get("criticality")))
        for e in index.by_type.get("AllergyIntolerance", [])
        if _refs_to(index, e.resource.get("patient"), entry, e)
    )
    birth_raw = _str(r.get("birthDate"))
    return Patient(
        fhir_id=_str(r.get("id")),
        identifier_system=ident_system,
        identifier_value=ident_value,
        name=_human_name(r),
        gender=_str(r.get("gender")),
        birth_date=_full_date(birth_raw),
        birth_date_raw=birth_raw,
        phones=phones,
        address=address,
        allergies=allergies,
        weight_kg=_weight(index, entry),
    )


def _weight(index: _Index, patient: _Entry) -> Decimal | None:
    best: tuple[str, Decimal] | None = None
    for e in index.by_type.get("Observation", []):
        r = e.resource
        if not _refs_to(index, r.get("subject"), patient, e):
            continue
        if BODY_WEIGHT_CODE not in _concept(r.get("code")).codes(LOINC):
            continue
        q = _dict(r.get("valueQuantity"))
        value = _decimal(q.get("value"))
        unit = (_str(q.get("code")) or _str(q.get("unit")) or "").lower()
        if value is None or unit not in ("kg", "g"):
            continue
        kg = value / 1000 if unit == "g" else value
        when = _str(r.get("effectiveDateTime")) or ""
        if best is None or when >= best[0]:
            best = (when, kg)
    return best[1] if best else None


def _related_person(entry: _Entry) -> RelatedPerson:
    r = entry.resource
    codes = tuple(
        c.code for rel in _list(r.get("relationship")) for c in _concept(rel).codings if c.code
    )
    guardian = any(
        c.code in GUARDIAN_CODES
        for rel in _list(r.get("relationship"))
        for c in _concept(rel).codings
        if c.system == ROLE_CODE_SYSTEM
    )
    phone = next((t["value"] for t in _list(r.get("telecom")) if isinstance(t, dict) and _str(t.get("value"))), None)
    return RelatedPerson(_str(r.get("id")), _human_name(r), codes, guardian, phone)


def _diagnosis(index: _Index, entry: _Entry) -> Diagnosis:
    r = entry.resource
    code = _concept(r.get("code"))
    icd = next((c for c in code.codings if c.system in ICD10_SYSTEMS and c.code), None)
    first = icd or (code.codings[0] if code.codings else Coding(None, None, None))
    verification = next(iter(_concept(r.get("verificationStatus")).codings), None)
    clinical = next(iter(_concept(r.get("clinicalStatus")).codings), None)
    recorded = _str(r.get("recordedDate"))
    source_type = institution = None
    for ev in _list(r.get("evidence")):
        for detail in _list(_dict(ev).get("detail")):
            doc, _ = index.resolve(detail, "DocumentReference", at=entry)
            if doc is None:
                continue
            doc_type = next(
                (c.code for c in _concept(doc.resource.get("type")).codings if c.system == DIAGNOSIS_SOURCE_SYSTEM and c.code in DIAGNOSIS_SOURCES),
                None,
            )
            org, _ = index.resolve(doc.resource.get("custodian"), "Organization", at=doc)
            if doc_type and org is not None:
                source_type, institution = doc_type, _str(org.resource.get("name")) or org.key
                break
            source_type = source_type or doc_type
        if institution:
            break
    status = verification.code if verification else None
    confirmed = bool(status == "confirmed" and icd is not None and recorded and source_type and institution)
    return Diagnosis(
        fhir_id=_str(r.get("id")),
        code_system=first.system,
        code=first.code,
        display=first.display or code.text,
        verification_status=status,
        clinical_status=clinical.code if clinical else None,
        recorded_date=recorded,
        source_document_type=source_type,
        institution=institution,
        confirmed=confirmed,
    )


def _practitioner_roles(index: _Index, practitioner: _Entry) -> tuple[tuple[str, ...], str | None]:
    specialties: list[str] = []
    organization = None
    for e in index.by_type.get("PractitionerRole", []):
        if not _refs_to(index, e.resource.get("practitioner"), practitioner, e):
            continue
        for s in _list(e.resource.get("specialty")):
            c = _concept(s)
            specialties.extend(x.code for x in c.codings if x.code)
            if c.text:
                specialties.append(c.text)
        org, _ = index.resolve(e.resource.get("organization"), "Organization", at=e)
        if org is not None and organization is None:
            organization = _str(org.resource.get("name"))
    return tuple(dict.fromkeys(specialties)), organization


def _licence(resource: Mapping[str, Any]) -> str | None:
    for ident in _list(resource.get("identifier")):
        if isinstance(ident, dict) and ident.get("system") == LICENCE_SYSTEM and _str(ident.get("value")):
            return str(ident["value"])
    return None


def _prescriber(index: _Index, members: list[_Entry], notes: list[str]) -> Prescriber:
    refs = {json.dumps(e.resource.get("requester"), sort_keys=True) for e in members}
    if len(refs) > 1:
        notes.append("同一处方的条目开方者不一致 / items of one prescription name different requesters")
    requester = members[0].resource.get("requester")
    ref = _str(_dict(requester).get("reference"))
    if not requester:
        return Prescriber(PrescriberKind.MISSING, None)
    entry, why = index.resolve(requester, at=members[0])
    if entry is None:
        kind = PrescriberKind.UNRESOLVED
        notes.append(f"开方者无法解析 / the prescriber cannot be resolved: {why or 'no reference'}")
        return Prescriber(kind, ref, name=_str(_dict(requester).get("display")))
    r = entry.resource
    if entry.rtype == "PractitionerRole":
        practitioner, _ = index.resolve(r.get("practitioner"), "Practitioner", at=entry)
        if practitioner is None:
            notes.append("PractitionerRole 未指向医师 / the PractitionerRole names no Practitioner")
            return Prescriber(PrescriberKind.UNRESOLVED, ref)
        entry, r = practitioner, practitioner.resource
    if entry.rtype == "Practitioner":
        start = None
        for q in _list(r.get("qualification")):
            d = _full_date(_dict(_dict(q).get("period")).get("start"))
            if d is not None and (start is None or d < start):
                start = d
        verified = _ext(r, REAL_NAME_EXT)
        specialties, organization = _practitioner_roles(index, entry)
        return Prescriber(
            kind=PrescriberKind.PRACTITIONER,
            reference=ref,
            fhir_id=_str(r.get("id")),
            name=_human_name(r),
            licence=_licence(r),
            practice_start=start,
            real_name_verified_at=_datetime(verified.get("valueDateTime")) if verified else None,
            specialties=specialties,
            organization=organization,
        )
    if entry.rtype == "Device":
        names = [_str(_dict(n).get("name")) for n in _list(r.get("deviceName"))]
        return Prescriber(PrescriberKind.DEVICE, ref, fhir_id=_str(r.get("id")), device_name=next((n for n in names if n), None))
    if entry.rtype == "Organization":
        return Prescriber(PrescriberKind.ORGANIZATION, ref, fhir_id=_str(r.get("id")), name=_str(r.get("name")))
    return Prescriber(PrescriberKind.OTHER, ref, fhir_id=_str(r.get("id")), name=_human_name(r))


def _encounter(index: _Index, members: list[_Entry], prescriber: Prescriber, notes: list[str]) -> Encounter | None:
    holder = next((e for e in members if e.resource.get("encounter")), None)
    if holder is None:
        notes.append("处方未关联就诊 / the prescription names no visit (Encounter)")
        return None
    entry, why = index.resolve(holder.resource.get("encounter"), "Encounter", at=holder)
    if entry is None:
        notes.append(f"就诊无法解析 / the visit cannot be resolved: {why}")
        return None
    r = entry.resource
    types = [_concept(t) for t in _list(r.get("type"))]
    follow_up = any(FOLLOW_UP_CODE in t.codes(SNOMED) for t in types)
    participants: list[Participant] = []
    for p in _list(r.get("participant")):
        p = _dict(p)
        who, _ = index.resolve(p.get("individual"), at=entry)
        ref_str = _str(_dict(p.get("individual")).get("reference"))
        ptypes = {c.code for t in _list(p.get("type")) for c in _concept(t).codings if c.system == PARTICIPATION_SYSTEM}
        if who is None:
            participants.append(Participant("other", ref_str, None, None, None))
            continue
        wr = who.resource
        if who.rtype == "RelatedPerson":
            rp = _related_person(who)
            participants.append(Participant("guardian" if rp.is_guardian else "other", ref_str, rp.fhir_id, rp.name, "RelatedPerson"))
        elif who.rtype in ("Practitioner", "PractitionerRole"):
            if who.rtype == "PractitionerRole":
                prac, _ = index.resolve(wr.get("practitioner"), "Practitioner", at=who)
                if prac is None:
                    continue
                who, wr = prac, prac.resource
            is_prescriber = _str(wr.get("id")) is not None and _str(wr.get("id")) == prescriber.fhir_id
            role = "accompanying_physician" if ("PART" in ptypes and not is_prescriber) else "other"
            specialties, _ = _practitioner_roles(index, who)
            participants.append(Participant(role, ref_str, _str(wr.get("id")), _human_name(wr), "Practitioner", _licence(wr), specialties))
        else:
            participants.append(Participant("other", ref_str, _str(wr.get("id")), _human_name(wr), who.rtype))
    return Encounter(
        fhir_id=_str(r.get("id")),
        class_code=_str(_dict(r.get("class")).get("code")),
        is_follow_up=follow_up,
        type_labels=tuple(t.label() for t in types if t.label()),
        participants=tuple(participants),
        period_start=_datetime(_dict(r.get("period")).get("start")),
    )


def _item(index: _Index, entry: _Entry, notes: list[str]) -> Item:
    r = entry.resource
    drug, form, ingredients = _drug(index, entry)
    reason_codes = tuple(c for rc in _list(r.get("reasonCode")) for c in _concept(rc).codings)
    reason_ids: list[str] = []
    for rr in _list(r.get("reasonReference")):
        cond, why = index.resolve(rr, "Condition", at=entry)
        if cond is not None:
            reason_ids.append(_str(cond.resource.get("id")) or cond.key)
        else:
            notes.append(f"{entry.key}: 诊断引用无法解析 / the diagnosis reference cannot be resolved: {why or 'empty'}")
    dosage = _dict(next(iter(_list(r.get("dosageInstruction"))), None))
    timing = _dict(dosage.get("timing"))
    timing_code = next((c.code for c in _concept(timing.get("code")).codings if c.code), None)
    repeat = _dict(timing.get("repeat"))
    frequency = repeat.get("frequency") if isinstance(repeat.get("frequency"), int) else None
    route = _concept(dosage.get("route")).label() or None
    dose = _dict(_dict(next(iter(_list(dosage.get("doseAndRate"))), None)).get("doseQuantity"))
    dispense = _dict(r.get("dispenseRequest"))
    quantity = _dict(dispense.get("quantity"))
    validity = _dict(dispense.get("validityPeriod"))
    skin = _ext(r, SKIN_TEST_EXT)
    authored_raw = _str(r.get("authoredOn"))
    return Item(
        fhir_id=entry.rid,
        status=_str(r.get("status")),
        intent=_str(r.get("intent")),
        authored_on=_datetime(authored_raw),
        authored_on_raw=authored_raw,
        drug=drug,
        medication_form=form,
        ingredients=ingredients,
        reason_codes=reason_codes,
        reason_condition_ids=tuple(reason_ids),
        dosage_text=_str(dosage.get("text")),
        timing_code=timing_code,
        frequency=frequency,
        period=_decimal(repeat.get("period")),
        period_unit=_str(repeat.get("periodUnit")),
        route=route,
        dose_value=_decimal(dose.get("value")),
        dose_unit=_str(dose.get("code")) or _str(dose.get("unit")),
        dose_unit_text=_str(dose.get("unit")),
        timing_when=tuple(w for w in _list(repeat.get("when")) if isinstance(w, str) and w.strip())[:8],
        additional_instructions=tuple(label for a in _list(dosage.get("additionalInstruction"))
                                      if (label := _concept(a).label()))[:8],
        quantity_value=_decimal(quantity.get("value")),
        quantity_unit=_str(quantity.get("unit")) or _str(quantity.get("code")),
        supply_days=_supply_days(_dict(dispense.get("expectedSupplyDuration"))),
        validity_start=_str(validity.get("start")),
        validity_end=_str(validity.get("end")),
        course_of_therapy=next((c.code for c in _concept(r.get("courseOfTherapyType")).codings if c.code), None),
        priority=_str(r.get("priority")),
        notes=tuple(n["text"] for n in _list(r.get("note")) if isinstance(n, dict) and _str(n.get("text"))),
        skin_test_result=_str(skin.get("valueCode")) if skin else None,
        resource_json=json.dumps(r, ensure_ascii=False, separators=(",", ":")),
    )


_DAYS_PER_UNIT = {"d": Decimal(1), "day": Decimal(1), "days": Decimal(1), "wk": Decimal(7), "week": Decimal(7),
                  "weeks": Decimal(7), "h": Decimal(1) / 24, "mo": Decimal(30), "天": Decimal(1), "周": Decimal(7)}


def _supply_days(duration: Mapping[str, Any]) -> Decimal | None:
    value = _decimal(duration.get("value"))
    unit = (_str(duration.get("code")) or _str(duration.get("unit")) or "d").lower()
    factor = _DAYS_PER_UNIT.get(unit)
    if value is None or factor is None:
        return None
    return value * factor


def _drug(index: _Index, entry: _Entry) -> tuple[Concept, str | None, tuple[Concept, ...]]:
    r = entry.resource
    if r.get("medicationCodeableConcept"):
        drug = _concept(r.get("medicationCodeableConcept"))
        if drug.codings or drug.text:
            return drug, None, ()
    med_ref = r.get("medicationReference")
    if med_ref:
        med, why = index.resolve(med_ref, "Medication", at=entry)
        if med is None:
            raise _Unresolvable(f"{entry.key}: 药品无法解析 / the drug cannot be resolved: {why}")
        m = med.resource
        drug = _concept(m.get("code"))
        ingredients = tuple(_ingredients(index, med))
        if drug.codings or drug.text or ingredients:
            return drug, _concept(m.get("form")).label() or None, ingredients
    raise _Unresolvable(f"{entry.key}: 药品无法解析 / the drug cannot be resolved: no medication code or name")


def _ingredients(index: _Index, med: _Entry) -> Iterator[Concept]:
    """A Medication's ingredients: coded in place, or a Substance (or Medication) by reference — in the
    bundle or contained — whose code counts like any other clue."""
    for i in _list(med.resource.get("ingredient")):
        i = _dict(i)
        if i.get("itemCodeableConcept"):
            yield _concept(i.get("itemCodeableConcept"))
        elif i.get("itemReference"):
            item, _ = index.resolve(i.get("itemReference"), "Substance", "Medication", at=med)
            if item is not None:
                concept = _concept(item.resource.get("code"))
                if concept.codings or concept.text:
                    yield concept
                elif item.rtype == "Substance" and _str(item.resource.get("description")):
                    yield Concept((), _str(item.resource.get("description")))
            elif _str(_dict(i.get("itemReference")).get("display")):
                yield Concept((), _str(_dict(i.get("itemReference")).get("display")))


def _signature(index: _Index, members: list[_Entry], item_refs: set[str], notes: list[str]) -> Signature | None:
    best: Signature | None = None
    for e in index.by_type.get("Provenance", []):
        r = e.resource
        targets: list[str] = []
        for t in _list(r.get("target")):
            te, _ = index.resolve(t, "MedicationRequest", at=e)
            if te is not None:
                targets.append(te.key)
        if not item_refs.intersection(targets):
            continue
        for sig in _list(r.get("signature")):
            sig = _dict(sig)
            types = tuple(c.code for c in (_concept({"coding": sig.get("type")}).codings) if c.code)
            jws = None
            data = _str(sig.get("data"))
            if data:
                try:
                    jws = base64.b64decode(data, validate=True).decode("ascii")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    notes.append(f"{e.key}: 签名数据不是 base64 文本 / signature data is not base64 text")
            candidate = Signature(
                provenance_id=_str(r.get("id")),
                jws=jws,
                sig_format=_str(sig.get("sigFormat")),
                type_codes=types,
                who_reference=_str(_dict(sig.get("who")).get("reference")),
                target_ids=tuple(t.split("/", 1)[-1] for t in targets),
                when=_str(sig.get("when")),
            )
            if best is None or (AUTHOR_SIGNATURE in types and AUTHOR_SIGNATURE not in best.type_codes):
                best = candidate
    return best


def _dispenses(index: _Index, members: list[_Entry]) -> Iterable[Dispense]:
    by_key = {e.key: e for e in members}
    for e in index.by_type.get("MedicationDispense", []):
        r = e.resource
        for auth in _list(r.get("authorizingPrescription")):
            target, _ = index.resolve(auth, "MedicationRequest", at=e)
            if target is not None and target.key in by_key:
                yield Dispense(
                    _str(r.get("id")),
                    target.rid,
                    _datetime(r.get("whenPrepared")),
                    _datetime(r.get("whenHandedOver")),
                )
