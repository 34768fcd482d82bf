"""The canonical prescription content is RFC 8785 to the byte, on the fast path and off it."""

from __future__ import annotations

import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.domain.canonical import content_sha256, jcs, prescription_content

keys = st.text(max_size=6) | st.sampled_from(["id", "status", "a", "b", "\U0001f600", "\ue000", "Z", "é"])
scalars = (
    st.none() | st.booleans() | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                           max_leaves=20)


def _reference(value: object) -> bytes | type[Exception]:
    try:
        return rfc8785.dumps(value)
    except Exception as exc:  # the library's verdict on unrepresentable input
        return type(exc)


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_jcs_matches_rfc8785_exactly(value: object) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert jcs(value) == expected
    else:
        try:
            jcs(value)
        except Exception as exc:
            assert isinstance(exc, expected) or isinstance(exc, ValueError)
        else:
            raise AssertionError(f"jcs accepted what RFC 8785 refuses ({expected.__name__})")


def test_key_order_is_utf16_not_code_point() -> None:
    # U+E000 sorts after U+1F600 in UTF-16 (the emoji is a surrogate pair starting 0xD83D).
    value = {"\ue000": 1, "\U0001f600": 2}
    assert jcs(value) == rfc8785.dumps(value)
    assert jcs(value).decode().index("\U0001f600") < jcs(value).decode().index("\ue000")


def test_prescription_content_sorts_by_id_and_drops_meta_and_text() -> None:
    a = {"resourceType": "MedicationRequest", "id": "b", "meta": {"versionId": "2"}, "text": {"div": "x"}, "x": 1.5}
    b = {"resourceType": "MedicationRequest", "id": "a", "status": "active"}
    content = prescription_content([a, b])
    assert json.loads(content) == [{"id": "a", "resourceType": "MedicationRequest", "status": "active"},
                                   {"id": "b", "resourceType": "MedicationRequest", "x": 1.5}]
    assert content == rfc8785.dumps(json.loads(content))
    assert content_sha256([a, b]) == content_sha256([b, a])
