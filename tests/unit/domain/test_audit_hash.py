"""The audit chain's hashes are RFC 8785 exactly, whichever serializer path wrote them (old chains keep verifying)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from workstation.domain.audit import AuditRecord, canonical_details, chain_hash

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53 - 1), 2**53 - 1) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=10), _json, max_size=6), st.text(max_size=30))
def test_details_and_hash_are_rfc8785_exactly(details: dict[str, object], actor: str) -> None:
    text = canonical_details(details)
    assert text == rfc8785.dumps(details).decode("utf-8")
    record = AuditRecord(seq=7, at=datetime(2026, 6, 1, 2, 3, 4, 567, tzinfo=UTC), actor=actor, action="a.b",
                         subject="prescription:RX1/v1", details=text)
    reference = rfc8785.dumps({"seq": 7, "at": "2026-06-01T02:03:04.000567Z", "actor": actor, "action": "a.b",
                               "subject": "prescription:RX1/v1", "details": text})
    assert chain_hash("ab" * 32, record) == hashlib.sha256(("ab" * 32).encode("ascii") + b"\n" + reference).hexdigest()
