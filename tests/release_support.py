"""A pharmacy CA, a pharmacist, and signed release messages built from a demo bundle, for the release tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.demo_support import bundle
from workstation.adapters.approval import (
    approval_provenance,
    delivery_message,
    dispensing_bundle,
    mask_phone,
    sign_statement,
)
from workstation.adapters.pki import create_pharmacy_ca, generate_key, issue_pharmacist_certificate
from workstation.domain.canonical import content_sha256

Json = dict[str, Any]
CST = dt.timezone(dt.timedelta(hours=8))
ISSUED = dt.datetime(2026, 1, 1, 8, 0, tzinfo=CST)
SIGNED_AT = "2026-06-01T10:05:00+08:00"
LICENCE = "YS4403200012345"

# Built once at import: hypothesis refuses function-scoped fixtures, and P-256 keys are cheap.
CA, CA_KEY = create_pharmacy_ca("示例药房 CA", now=ISSUED)
KEY = generate_key()
LEAF = issue_pharmacist_certificate(CA, CA_KEY, name="王丽", licence=LICENCE, public_key=KEY.public_key(), now=ISSUED)
CHAIN = [LEAF, CA]


def medication_requests(name: str) -> list[Json]:
    """The MedicationRequests of a demo bundle (made at the tests' fixed moment), as received."""
    data = bundle(name)
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]


REQUESTS = medication_requests("01-htn-follow-up.json")
NUMBER = REQUESTS[0]["groupIdentifier"]["value"]


def statement(requests: list[Json] = REQUESTS, **changes: Any) -> Json:
    """An approval statement of ``requests`` by 王丽, with ``changes`` applied."""
    result: Json = {
        "prescription": requests[0]["groupIdentifier"]["value"],
        "version": 1,
        "content_sha256": content_sha256(requests),
        "decision": "approve",
        "acknowledged": {"dose.above_usual": "患者既往耐受该剂量，已电话确认"},
        "pharmacist_licence": LICENCE,
        "signed_at": SIGNED_AT,
    }
    result.update(changes)
    return result


def release_bundle(requests: list[Json] = REQUESTS, decision_id: str = "dec-1") -> Json:
    """The signed dispensing bundle of ``requests`` (it holds the given dicts themselves, not copies)."""
    approved = statement(requests)
    token = sign_statement(approved, KEY, CHAIN)
    provenance = approval_provenance(approved, token, target_ids=[r["id"] for r in requests],
                                     pharmacist_name="王丽", provenance_id=f"prov-{decision_id}")
    return dispensing_bundle(requests, provenance, decision_id=decision_id, timestamp="2026-06-01T10:05:01+08:00")


DELIVERY_FIELDS: Json = {
    "parcel_id": "PCL-20260601-0007",
    "order": NUMBER,
    "recipient_name": "张三",
    "recipient_phone_masked": mask_phone("+86 138-1234-5678"),
    "address": "广东省深圳市南山区科技园路 1 号 2 栋 301",
    "packages": 2,
    "storage": "冷藏 2–8℃",
    "pharmacist_licence": LICENCE,
    "signed_at": SIGNED_AT,
}


def release_delivery(**changes: Any) -> Json:
    """The signed delivery message of DELIVERY_FIELDS with ``changes``."""
    return delivery_message(**{**DELIVERY_FIELDS, **changes}, key=KEY, chain=CHAIN)
