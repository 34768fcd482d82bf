"""Contained resources and local references ("#id", FHIR R4 §2.11), as EHR exports and the HL7 examples write
them: each resource kind the review uses, contained, must read exactly like the same resource in the bundle."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from resources import read_resource
from tests.support import SHARED, example_paths, external_paths
from workstation.adapters.fhir_bundle import parse_bundle
from workstation.domain.classification import Classifier
from workstation.domain.prescription import PrescriptionSnapshot
from workstation.domain.special_drugs import parse_special_drugs_csv

Bundle = dict[str, Any]


def _example(name: str) -> Bundle:
    data: Bundle = json.loads((SHARED / "examples" / name).read_text("utf-8"))
    return data


def _parse(bundle: Bundle) -> PrescriptionSnapshot:
    parsed = parse_bundle(json.dumps(bundle, ensure_ascii=False).encode())
    assert not parsed.rejected, parsed.rejected
    assert len(parsed.prescriptions) == 1
    return parsed.prescriptions[0]


def _resources(bundle: Bundle, rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _take(bundle: Bundle, rtype: str, rid: str) -> dict[str, Any]:
    """Remove Type/rid from the bundle's entries and return it."""
    for i, e in enumerate(bundle["entry"]):
        r = e["resource"]
        if r["resourceType"] == rtype and r.get("id") == rid:
            del bundle["entry"][i]
            return dict(r)
    raise AssertionError(f"{rtype}/{rid} is not in the example")


@cache
def _classifier() -> Classifier:
    return Classifier((), parse_special_drugs_csv(read_resource("regulatory", "special_drugs.csv"), "packaged"))


pytestmark = pytest.mark.skipif(not example_paths(), reason="no shared example bundles")


def _contained_medication(bundle: Bundle) -> None:
    for mr in _resources(bundle, "MedicationRequest"):
        mr["contained"] = [{"resourceType": "Medication", "id": "med", "code": mr.pop("medicationCodeableConcept")}]
        mr["medicationReference"] = {"reference": "#med"}


def _contained_practitioner(bundle: Bundle) -> None:
    wang = _take(bundle, "Practitioner", "prac-wang")
    for mr in _resources(bundle, "MedicationRequest"):
        mr.setdefault("contained", []).append({**wang, "id": "author"})
        mr["requester"] = {"reference": "#author"}
    for role in _resources(bundle, "PractitionerRole"):  # the role named the Practitioner now gone
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"] is not role]


def _contained_organization(bundle: Bundle) -> None:
    hospital = _take(bundle, "Organization", "org-offline")
    for doc in _resources(bundle, "DocumentReference"):
        doc["contained"] = [{**hospital, "id": "custodian"}]
        doc["custodian"] = {"reference": "#custodian"}


def _contained_document_and_organization(bundle: Bundle) -> None:
    """The diagnosis carries its source document and that document's institution, as siblings."""
    hospital = _take(bundle, "Organization", "org-offline")
    for cond in _resources(bundle, "Condition"):
        doc_id = cond["evidence"][0]["detail"][0]["reference"].split("/", 1)[1]
        doc = _take(bundle, "DocumentReference", doc_id)
        doc["id"], doc["custodian"] = "source", {"reference": "#institution"}
        cond["contained"] = [doc, {**hospital, "id": "institution"}]
        cond["evidence"] = [{"detail": [{"reference": "#source"}]}]


def _contained_provenance_agent(bundle: Bundle) -> None:
    """The signing Provenance names its agent inside itself."""
    for prov in _resources(bundle, "Provenance"):
        wang = next(r for r in _resources(bundle, "Practitioner") if r["id"] == "prac-wang")
        prov["contained"] = [{**copy.deepcopy(wang), "id": "signer"}]
        prov["agent"] = [{"who": {"reference": "#signer"}}]


SHAPES: dict[str, Callable[[Bundle], None]] = {
    "Medication": _contained_medication,
    "Practitioner": _contained_practitioner,
    "Organization in DocumentReference": _contained_organization,
    "DocumentReference and Organization in Condition": _contained_document_and_organization,
    "Practitioner in Provenance": _contained_provenance_agent,
}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_contained_resource_reads_like_the_same_resource_in_the_bundle(shape: str) -> None:
    plain = _parse(_example("ex-clean-htn.json"))
    bundle = _example("ex-clean-htn.json")
    SHAPES[shape](bundle)
    contained = _parse(bundle)
    assert not contained.intake_notes, contained.intake_notes
    assert [i.drug.label() for i in contained.items] == [i.drug.label() for i in plain.items]
    assert contained.prescriber.kind == plain.prescriber.kind
    assert (contained.prescriber.name, contained.prescriber.licence) == (plain.prescriber.name, plain.prescriber.licence)
    assert [(d.code, d.confirmed, d.source_document_type, d.institution) for d in contained.diagnoses] == \
        [(d.code, d.confirmed, d.source_document_type, d.institution) for d in plain.diagnoses]
    assert all(d.confirmed for d in contained.diagnoses)
    assert contained.signature is not None and contained.signature.target_ids == plain.signature.target_ids  # type: ignore[union-attr]


def test_a_contained_medication_and_its_substance_classify_the_drug() -> None:
    """The drug's name says nothing listed; its contained ingredient Substance (a sibling) is oxycodone."""
    bundle = _example("ex-narcotic.json")
    for mr in _resources(bundle, "MedicationRequest"):
        mr.pop("medicationCodeableConcept")
        mr["contained"] = [
            {"resourceType": "Substance", "id": "active", "code": {"text": "oxycodone hydrochloride"}},
            {"resourceType": "Medication", "id": "med", "code": {"text": "Prolonged-release tablet 10 mg"},
             "ingredient": [{"itemReference": {"reference": "#active"}, "isActive": True}]},
        ]
        mr["medicationReference"] = {"reference": "#med"}
    item = _parse(bundle).items[0]
    assert [c.label() for c in item.ingredients] == ["oxycodone hydrochloride"]
    assert "narcotic" in _classifier().classify(item).categories


def test_a_contained_provenance_names_its_container_with_a_bare_hash() -> None:
    bundle = _example("ex-clean-htn.json")
    prov = _take(bundle, "Provenance", "prov-ex-clean-htn")
    mrs = _resources(bundle, "MedicationRequest")
    prov["target"] = [{"reference": "#"}, {"reference": f"MedicationRequest/{mrs[1]['id']}"}]
    mrs[0]["contained"] = [prov]
    signature = _parse(bundle).signature
    assert signature is not None and signature.provenance_id == "prov-ex-clean-htn"
    assert sorted(signature.target_ids) == sorted(m["id"] for m in mrs)


def test_a_local_reference_is_not_looked_up_in_another_resource() -> None:
    """"#med" in one MedicationRequest does not reach a Medication contained in its neighbour."""
    bundle = _example("ex-clean-htn.json")
    first, second = _resources(bundle, "MedicationRequest")
    first["contained"] = [{"resourceType": "Medication", "id": "med", "code": first.pop("medicationCodeableConcept")}]
    first["medicationReference"] = {"reference": "#med"}
    second.pop("medicationCodeableConcept")
    second["medicationReference"] = {"reference": "#med"}
    parsed = parse_bundle(json.dumps(bundle, ensure_ascii=False).encode())
    assert not parsed.prescriptions
    [rejected] = parsed.rejected
    assert f"#med is not contained in MedicationRequest/{second['id']}" in rejected.reason


def test_every_shared_bundle_reads_with_no_unresolved_local_reference() -> None:
    for path in [*example_paths(), *external_paths()]:
        parsed = parse_bundle(path.read_bytes())
        notes = [n for p in parsed.prescriptions for n in p.intake_notes] + [r.reason for r in parsed.rejected]
        assert not [n for n in notes if "is not contained in" in n or "local reference" in n], path.name
