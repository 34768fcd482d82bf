"""The content-keyed validation cache: exact keys, and results passed between reading processes."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from workstation.adapters import fhir_bundle

PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01",
                           "name": [{"text": "李四"}], "identifier": [{"system": "urn:x", "value": "110"}]}


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A fresh cache, no recording, and a log of the validations actually run."""
    monkeypatch.setattr(fhir_bundle, "_validation_cache", type(fhir_bundle._validation_cache)())
    monkeypatch.setattr(fhir_bundle, "_fresh", None)
    ran: list[str] = []
    original = fhir_bundle._validate

    def counted(rtype: str, resource: Any) -> str | None:
        ran.append(rtype)
        return original(rtype, resource)

    monkeypatch.setattr(fhir_bundle, "_validate", counted)
    yield ran


def test_identical_content_is_validated_once(empty_cache: list[str]) -> None:
    assert fhir_bundle.validate_resource(PATIENT) is None
    assert fhir_bundle.validate_resource(copy.deepcopy(PATIENT)) is None
    assert empty_cache == ["Patient"]


@pytest.mark.parametrize("change", [
    lambda r: r.update(gender=1),  # another JSON type
    lambda r: r.update(birthDate=True),
    lambda r: r["name"][0].update(text="李四 "),
    lambda r: r["identifier"].append({"value": "110"}),
])
def test_any_change_is_validated_again(empty_cache: list[str], change: Any) -> None:
    changed = copy.deepcopy(PATIENT)
    change(changed)
    fhir_bundle.validate_resource(PATIENT)
    fhir_bundle.validate_resource(changed)
    assert empty_cache == ["Patient", "Patient"]


def test_shared_objects_do_not_change_the_key(empty_cache: list[str]) -> None:
    shared = copy.deepcopy(PATIENT)
    names = shared["name"]
    keep = [names, names[0]]  # more references to the same objects, as json.loads makes for repeated keys
    fhir_bundle.validate_resource(PATIENT)
    fhir_bundle.validate_resource(shared)
    assert empty_cache == ["Patient"] and keep


def test_per_prescription_resources_skip_the_cache(empty_cache: list[str]) -> None:
    bundle = {"resourceType": "Bundle", "id": "b", "type": "collection"}
    fhir_bundle.validate_resource(bundle)
    fhir_bundle.validate_resource(bundle)
    assert empty_cache == ["Bundle", "Bundle"] and not fhir_bundle._validation_cache


def test_validations_pass_from_one_process_to_another(empty_cache: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert fhir_bundle.take_validations() == []  # starts recording
    invalid = {**PATIENT, "gender": 12}
    fhir_bundle.validate_resource(PATIENT)
    reason = fhir_bundle.validate_resource(invalid)
    learned = fhir_bundle.take_validations()
    assert [error for _, error in learned] == [None, reason] and reason
    assert fhir_bundle.take_validations() == []

    # Another process: a fresh cache that is told what the first one found.
    monkeypatch.setattr(fhir_bundle, "_validation_cache", type(fhir_bundle._validation_cache)())
    fhir_bundle.learn_validations(learned)
    empty_cache.clear()
    assert fhir_bundle.validate_resource(copy.deepcopy(PATIENT)) is None
    assert fhir_bundle.validate_resource(copy.deepcopy(invalid)) == reason
    assert empty_cache == []
