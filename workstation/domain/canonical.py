"""Canonical prescription content: the exact bytes a prescriber signs and the pharmacy hashes.

Intake profile §7: the RFC 8785 (JCS) canonical JSON of the array of a prescription's
MedicationRequests sorted by ``id``, each without ``meta`` and ``text``. The same bytes give the
prescription's ``content_sha256`` (versioning, the approval signature, release checks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785

_VOLATILE = ("meta", "text")


def prescription_content(medication_requests: Iterable[Mapping[str, Any]]) -> bytes:
    """Return the JCS bytes of the MedicationRequests, sorted by id, without meta/text."""
    stripped = [{k: v for k, v in mr.items() if k not in _VOLATILE} for mr in medication_requests]
    stripped.sort(key=lambda mr: str(mr.get("id", "")))
    return rfc8785.dumps(stripped)


def content_sha256(medication_requests: Iterable[Mapping[str, Any]]) -> str:
    """Hex SHA-256 of :func:`prescription_content`."""
    return hashlib.sha256(prescription_content(medication_requests)).hexdigest()
