"""FHIR REST client for the internet hospital's server: page through active prescriptions with what they need.

Each search page becomes one ``collection`` Bundle holding the page's MedicationRequests and
everything the intake profile reads about them (patients' diagnoses with their source documents,
guardians, allergies, body weight; prescribers' roles; dispenses; accompanying physicians), so
that intake can judge the page exactly as it would judge a bundle file. Pages are fetched lazily,
one request at a time, as the caller asks for the next.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import requests.auth

from workstation.domain.errors import DomainError

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
BODY_WEIGHT = "http://loinc.org|29463-7"

# What the search itself brings along with each MedicationRequest.
SEARCH_INCLUDES: tuple[tuple[str, str], ...] = (
    ("_include", "MedicationRequest:subject"),
    ("_include", "MedicationRequest:requester"),
    ("_include", "MedicationRequest:encounter"),
    ("_include", "MedicationRequest:medication"),
    ("_revinclude", "Provenance:target"),
)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_EXCEPTIONS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
# Common servers and proxies refuse URLs past 8 KB; 50 ids of up to 64 characters stay well below.
_IDS_PER_QUERY = 50
_MAX_BACKOFF_SECONDS = 60.0
# A server asking for a longer pause than this is treated as asking for this long: a pull is interactive.
_MAX_RETRY_AFTER_SECONDS = 300.0
_EXCERPT_CHARS = 200
# Reference chains the profile needs are at most Condition → DocumentReference → Organization deep;
# the bound only stops a server whose references never end.
_MAX_RESOLVE_ROUNDS = 6

# FHIR ids are [A-Za-z0-9-.]{1,64}: anything else in a reference is not something we put into a URL path.
# Nor are "." and "..", which a URL path would read as directories.
_RELATIVE_REF = re.compile(
    r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>(?!\.{1,2}(?:/|$))[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
_ID = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9\-.]{1,64}$")


class FhirServerError(DomainError):
    """The FHIR server could not be reached or gave an unusable answer; says which URL and why."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"FHIR 服务器错误 / FHIR server error: GET {url} — {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PulledPage:
    """One search page, made into a self-contained collection Bundle."""

    number: int  # 1-based, within this pull
    url: str  # the search URL this page was read from
    bundle: bytes  # the collection Bundle, JSON in UTF-8
    medication_requests: tuple[dict[str, Any], ...]  # the search's own matches on this page
    resource_count: int
    last: bool  # the server named no next page


class _BearerAuth(requests.auth.AuthBase):
    """Adds the bearer token; as an explicit auth it also keeps requests from substituting ~/.netrc credentials."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r

    def __repr__(self) -> str:
        return "<_BearerAuth (token hidden)>"


class _Resources:
    """The resources of one page, in the order first seen, deduplicated by Type/id."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[str, Any]] = {}
        self._without_id: list[dict[str, Any]] = []

    def add(self, resource: dict[str, Any]) -> bool:
        key = resource_key(resource)
        if key is None:
            # Not addressable, so not deduplicable; intake judges (and if need be quarantines) it.
            self._without_id.append(resource)
            return True
        if key in self._by_key:
            return False
        self._by_key[key] = resource
        return True

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def get(self, key: str) -> dict[str, Any] | None:
        return self._by_key.get(key)

    def all(self) -> list[dict[str, Any]]:
        return [*self._by_key.values(), *self._without_id]

    def of_type(self, rtype: str) -> list[dict[str, Any]]:
        return [r for r in self.all() if r.get("resourceType") == rtype]

    def __len__(self) -> int:
        return len(self._by_key) + len(self._without_id)

    def bundle(self, base_url: str) -> dict[str, Any]:
        entries: list[dict[str, Any]] = [{"fullUrl": f"{base_url}/{key}", "resource": r} for key, r in self._by_key.items()]
        entries.extend({"resource": r} for r in self._without_id)
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def resource_key(resource: dict[str, Any]) -> str | None:
    """``Type/id`` of a resource, or None when it has no usable id."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rtype, str) and isinstance(rid, str) and _ID.match(rid):
        return f"{rtype}/{rid}"
    return None


def last_updated(resource: dict[str, Any]) -> str | None:
    """``meta.lastUpdated`` as the server wrote it, when it is a real instant that fits the cursor column."""
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if isinstance(value, str) and len(value) <= 64 and parse_instant(value) is not None:
        return value
    return None


def parse_instant(value: str) -> datetime | None:
    """A FHIR instant (with time zone) as an aware datetime, else None."""
    if "T" not in value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


class FhirPullClient:
    """Reads active MedicationRequests page by page from one FHIR server, with what the profile needs."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        page_size: int = 50,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """Raises ValueError when ``base_url`` is not an http(s) URL with a host."""
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        if self._origin is None:
            raise ValueError(f"{base_url!r} is not an http(s) URL with a host")
        self._page_size = page_size
        self._timeouts = (connect_timeout, read_timeout)
        self._max_retries = max(max_retries, 0)
        self._backoff_seconds = max(backoff_seconds, 0.0)
        self._session = session or requests.Session()
        self._sleep = sleep
        self._rng = rng or random.Random()
        token = (token or "").strip()
        self._auth = _BearerAuth(token) if token else None
        # Kept only to blank it out of server messages that might echo it back.
        self._redact = token
        # Reads repeat across pages (the same prescriber, the same offline hospital); one pull reads each once.
        self._read_cache: dict[str, dict[str, Any] | None] = {}

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ paging

    def pages(self, since: str | None) -> Iterator[PulledPage]:
        """The search's pages as collection Bundles, lazily: nothing is fetched ahead of the consumer."""
        self._read_cache.clear()
        params: list[tuple[str, str]] = [("status", "active")]
        if since:
            params.append(("_lastUpdated", f"ge{since}"))
        params += [("_sort", "_lastUpdated"), ("_count", str(self._page_size)), *SEARCH_INCLUDES]
        url: str | None = self._url("MedicationRequest", params)
        seen: set[str] = set()
        number = 0
        while url is not None:
            if url in seen:
                raise FhirServerError(url, "the server's next link leads back to a page already read (a paging loop)")
            seen.add(url)
            bundle = self._get_bundle(url)
            number += 1
            href = _next_href(bundle)
            resources = _Resources()
            matched: list[dict[str, Any]] = []
            for resource, mode in _entries(bundle):
                if resource.get("resourceType") == "MedicationRequest" and mode in (None, "match"):
                    matched.append(resource)
                resources.add(resource)
            if matched:
                self._complete(resources, matched)
            raw = json.dumps(resources.bundle(self.base_url), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            log.info("FHIR page %d: %d prescription items, %d resources in all", number, len(matched), len(resources))
            yield PulledPage(number, url, raw, tuple(matched), len(resources), href is None)
            # Checked only now: the page itself is sound and is stored before a bad link stops the pull.
            url = self._next_url(href, url)

    # ------------------------------------------------------------------ what a page needs besides itself

    def _complete(self, res: _Resources, matched: list[dict[str, Any]]) -> None:
        self._complete_groups(res, matched)
        self._resolve(res)
        mrs = res.of_type("MedicationRequest")
        patients = _unique(self._ref_id(mr.get("subject"), "Patient") for mr in mrs)
        practitioners = _unique(self._practitioners(res, mrs))
        mr_ids = _unique(key.split("/", 1)[1] for key in map(resource_key, mrs) if key is not None)
        searches: list[tuple[str, str, list[str], list[tuple[str, str]]]] = [
            ("Condition", "patient", patients, []),
            ("RelatedPerson", "patient", patients, []),
            ("AllergyIntolerance", "patient", patients, []),
            ("Observation", "patient", patients, [("code", BODY_WEIGHT)]),
            ("PractitionerRole", "practitioner", practitioners, [("_include", "PractitionerRole:organization")]),
            ("MedicationDispense", "prescription", mr_ids, []),
        ]
        for rtype, param, ids, extra in searches:
            for chunk in _chunks(ids, _IDS_PER_QUERY):
                for resource in self._search(rtype, [(param, ",".join(chunk)), *extra]):
                    res.add(resource)
        self._resolve(res)

    def _complete_groups(self, res: _Resources, matched: list[dict[str, Any]]) -> None:
        """Bring in the other items of each prescription, so a page boundary never splits one.

        A prescription is every MedicationRequest sharing ``groupIdentifier``; the search pages by
        item, so its items may straddle two pages. Items of one prescription come from one visit,
        so searching the visits (or, without one, the patient) finds them all.
        """
        groups = {g for g in map(_group, matched) if g is not None}
        if not groups:
            return
        grouped = [mr for mr in matched if _group(mr) is not None]
        encounters = _unique(self._ref_id(mr.get("encounter"), "Encounter") for mr in grouped)
        loose_patients = _unique(
            self._ref_id(mr.get("subject"), "Patient")
            for mr in grouped if self._ref_id(mr.get("encounter"), "Encounter") is None
        )
        for param, ids in (("encounter", encounters), ("patient", loose_patients)):
            for chunk in _chunks(ids, _IDS_PER_QUERY):
                for resource in self._search("MedicationRequest", [(param, ",".join(chunk))]):
                    if resource.get("resourceType") == "MedicationRequest" and _group(resource) in groups:
                        res.add(resource)

    def _practitioners(self, res: _Resources, mrs: Iterable[dict[str, Any]]) -> Iterator[str | None]:
        """Prescribers and the visits' practitioners (the accompanying physician), directly or through a role."""
        refs: list[Any] = [mr.get("requester") for mr in mrs]
        for enc in res.of_type("Encounter"):
            refs.extend(p.get("individual") for p in _dicts(enc.get("participant")))
        for ref in refs:
            key = self._ref_key(ref)
            if key is None:
                continue
            if key.startswith("Practitioner/"):
                yield key.split("/", 1)[1]
            elif key.startswith("PractitionerRole/") and (role := res.get(key)) is not None:
                yield self._ref_id(role.get("practitioner"), "Practitioner")

    def _resolve(self, res: _Resources) -> None:
        """Read every resource the profile follows a reference to that is not in the page yet."""
        for _ in range(_MAX_RESOLVE_ROUNDS):
            wanted: list[str] = []
            for resource in res.all():
                for ref, types in _followed_references(resource):
                    key = self._ref_key(ref)
                    if key is not None and key.split("/", 1)[0] in types and key not in res and key not in wanted:
                        wanted.append(key)
            added = False
            for key in wanted:
                found = self._read(key)
                if found is not None:
                    added = res.add(found) or added
            if not added:
                return

    # ------------------------------------------------------------------ references

    def _ref_key(self, reference: Any) -> str | None:
        """``Type/id`` of a reference this server can answer: relative, or absolute on our own base URL."""
        if not isinstance(reference, dict):
            return None
        ref = reference.get("reference")
        if not isinstance(ref, str):
            return None
        if ref.startswith(self.base_url + "/"):
            ref = ref[len(self.base_url) + 1:]
        m = _RELATIVE_REF.match(ref)
        return f"{m['type']}/{m['id']}" if m else None

    def _ref_id(self, reference: Any, rtype: str) -> str | None:
        key = self._ref_key(reference)
        if key is None:
            return None
        t, _, rid = key.partition("/")
        return rid if t == rtype else None

    # ------------------------------------------------------------------ HTTP

    def _url(self, path: str, params: Sequence[tuple[str, str]] = ()) -> str:
        url = f"{self.base_url}/{path}"
        # ':' ',' and '|' are FHIR search syntax; leaving ':' and ',' unescaped keeps logged URLs readable.
        return f"{url}?{urlencode(list(params), safe=':,')}" if params else url

    def _search(self, rtype: str, params: Sequence[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """Every resource of a search, following its next links."""
        url: str | None = self._url(rtype, params)
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise FhirServerError(url, "the server's next link leads back to a page already read (a paging loop)")
            seen.add(url)
            bundle = self._get_bundle(url)
            for resource, _mode in _entries(bundle):
                yield resource
            url = self._next_url(_next_href(bundle), url)

    def _read(self, key: str) -> dict[str, Any] | None:
        """One resource by Type/id; None when the server says it does not have it (404/410)."""
        if key in self._read_cache:
            return self._read_cache[key]
        url = self._url(key)
        data = self._get_json(url, missing_ok=True)
        if data is None:
            # A dangling reference must not stop every later prescription from arriving: intake notes the gap.
            log.warning("FHIR server has no %s (referenced from a prescription being pulled)", key)
        elif resource_key(data) != key:
            raise FhirServerError(url, f"the answer is not {key} but {resource_key(data) or data.get('resourceType')!r}")
        self._read_cache[key] = data
        return data

    def _get_bundle(self, url: str) -> dict[str, Any]:
        data = self._get_json(url, missing_ok=False)
        assert data is not None  # missing_ok=False never yields None
        if data.get("resourceType") != "Bundle":
            raise FhirServerError(url, f"the answer is not a FHIR Bundle (resourceType {data.get('resourceType')!r})")
        if not isinstance(data.get("entry", []), list):
            raise FhirServerError(url, "the Bundle's entry is not an array")
        return data

    def _next_url(self, href: str | None, current: str) -> str | None:
        if href is None:
            return None
        target = urljoin(current, href)
        if _origin(target) != self._origin:
            # A compromised or misconfigured server must not make us send the token elsewhere.
            raise FhirServerError(
                current, f"refused to follow a next link to another server ({_safe_origin(target)}); "
                         f"only {_safe_origin(self.base_url)} is trusted"
            )
        return target

    def _get_json(self, url: str, *, missing_ok: bool) -> dict[str, Any] | None:
        if _origin(url) != self._origin:
            raise FhirServerError(url, f"refused: not on the configured server {_safe_origin(self.base_url)}")
        retries = self._max_retries
        attempt = 0
        while True:
            delay: float | None = None
            try:
                log.debug("GET %s (attempt %d)", url, attempt + 1)
                resp = self._session.get(
                    url,
                    headers={"Accept": FHIR_JSON},
                    auth=self._auth,
                    timeout=self._timeouts,
                    allow_redirects=False,
                )
            except _RETRY_EXCEPTIONS as exc:
                why = f"{type(exc).__name__}: {self._clean(str(exc))}"
                if attempt >= retries:
                    raise FhirServerError(url, f"no answer after {attempt + 1} attempts: {why}") from None
                log.warning("GET %s failed (%s); retrying", url, why)
            else:
                status = resp.status_code
                if status == 200:
                    return self._json(url, resp)
                if status in (404, 410) and missing_ok:
                    return None
                if status in _RETRY_STATUSES:
                    if attempt >= retries:
                        raise FhirServerError(url, f"HTTP {status} after {attempt + 1} attempts: {self._excerpt(resp)}")
                    delay = _retry_after(resp.headers.get("Retry-After")) if status in (429, 503) else None
                    log.warning("GET %s answered HTTP %d; retrying", url, status)
                elif 300 <= status < 400:
                    raise FhirServerError(
                        url, f"HTTP {status} redirect to {resp.headers.get('Location', '?')} is not followed: "
                             "set fhir_server.base_url to the server's actual address"
                    )
                else:
                    raise FhirServerError(url, f"HTTP {status}: {self._problem(resp)}")
            self._sleep(delay if delay is not None else self._backoff(attempt))
            attempt += 1

    def _json(self, url: str, resp: requests.Response) -> dict[str, Any]:
        ctype = resp.headers.get("Content-Type", "?")
        try:
            data = json.loads(resp.content.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FhirServerError(url, f"the answer is not JSON (Content-Type {ctype}): {self._excerpt(resp)}") from None
        if not isinstance(data, dict):
            raise FhirServerError(url, f"the answer is not a FHIR resource (Content-Type {ctype}): {self._excerpt(resp)}")
        return data

    def _backoff(self, attempt: int) -> float:
        ceiling = min(_MAX_BACKOFF_SECONDS, self._backoff_seconds * 2.0 ** attempt)
        # Jitter keeps many workstations that failed together from retrying together.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _problem(self, resp: requests.Response) -> str:
        """The server's OperationOutcome diagnostics when it sent one, else the start of its body."""
        try:
            data = json.loads(resp.content.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
            texts = []
            for issue in _dicts(data.get("issue")):
                details = issue.get("details")
                text = issue.get("diagnostics") or (details.get("text") if isinstance(details, dict) else None)
                if isinstance(text, str) and text.strip():
                    texts.append(text.strip())
            if texts:
                return self._clean("; ".join(texts))[:_EXCERPT_CHARS * 2]
        return self._excerpt(resp)

    def _excerpt(self, resp: requests.Response) -> str:
        text = resp.content[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        text = " ".join(text.split())[:_EXCERPT_CHARS]
        return repr(self._clean(text)) if text else "(empty body)"

    def _clean(self, text: str) -> str:
        return text.replace(self._redact, "***") if self._redact else text


# ---------------------------------------------------------------------- helpers


def _entries(bundle: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """(resource, search mode) of each usable entry; OperationOutcomes the server attaches are only logged."""
    for entry in _dicts(bundle.get("entry")):
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) and isinstance(search.get("mode"), str) else None
        if resource.get("resourceType") == "OperationOutcome":
            log.warning("FHIR server notes: %s", json.dumps(resource.get("issue"), ensure_ascii=False)[:500])
            continue
        yield resource, mode


def _next_href(bundle: dict[str, Any]) -> str | None:
    for link in _dicts(bundle.get("link")):
        href = link.get("url")
        if link.get("relation") == "next" and isinstance(href, str) and href.strip():
            return href.strip()
    return None


def _followed_references(resource: dict[str, Any]) -> Iterator[tuple[Any, frozenset[str]]]:
    """The references intake follows (profile §2–§8), with the types it accepts at each."""
    rtype = resource.get("resourceType")
    if rtype == "MedicationRequest":
        yield resource.get("subject"), frozenset({"Patient"})
        yield resource.get("encounter"), frozenset({"Encounter"})
        yield resource.get("requester"), frozenset({"Practitioner", "PractitionerRole", "Device", "Organization"})
        yield resource.get("medicationReference"), frozenset({"Medication"})
        for ref in _list(resource.get("reasonReference")):
            yield ref, frozenset({"Condition"})
    elif rtype == "Encounter":
        for p in _dicts(resource.get("participant")):
            yield p.get("individual"), frozenset({"Practitioner", "PractitionerRole", "RelatedPerson"})
    elif rtype == "PractitionerRole":
        yield resource.get("practitioner"), frozenset({"Practitioner"})
        yield resource.get("organization"), frozenset({"Organization"})
    elif rtype == "Condition":
        for ev in _dicts(resource.get("evidence")):
            for ref in _list(ev.get("detail")):
                yield ref, frozenset({"DocumentReference"})
    elif rtype == "DocumentReference":
        yield resource.get("custodian"), frozenset({"Organization"})


def _group(mr: dict[str, Any]) -> tuple[str | None, str] | None:
    gi = mr.get("groupIdentifier")
    if not isinstance(gi, dict) or not isinstance(gi.get("value"), str) or not gi["value"].strip():
        return None
    system = gi.get("system")
    return (system if isinstance(system, str) else None, gi["value"])


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    return (v for v in _list(value) if isinstance(v, dict))


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _safe_origin(url: str) -> str:
    o = _origin(url)
    return f"{o[0]}://{o[1]}:{o[2]}" if o else repr(url[:100])


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_SECONDS)
