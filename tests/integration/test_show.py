"""`rxws show`: the prescription as the window shows it, full for the claim holder, masked for anyone else."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from tests.conftest import Pharmacy
from workstation.adapters.db import orm


def _openings(pharmacy: Pharmacy) -> list[dict[str, Any]]:
    with pharmacy.ws.uow() as uow:
        return [json.loads(d) for d in uow.session.scalars(
            select(orm.AuditEvent.details).where(orm.AuditEvent.action == "prescription.opened")
            .order_by(orm.AuditEvent.id))]


def test_the_claim_holder_sees_patient_history_items_prescriber_and_findings(pharmacy: Pharmacy, cli: Any) -> None:
    pharmacy.receive("RXSHOW0")
    pharmacy.approve("RXSHOW0")
    pharmacy.receive("RXSHOW1")
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXSHOW1")
    code, out, err = cli("show", "RXSHOW1", "--as", "PH0001")
    assert code == 0, err
    assert "状态 待审核" in out and "用量 1 片" in out  # the dose unit as written, not its UCUM code
    [earlier] = [line for line in out.splitlines() if "RXSHOW0 v1" in line]
    assert "审核通过" in earlier
    assert "张三" in out and "13800138000" in out and "上海市浦东新区张江路100号" in out
    assert "I10 原发性高血压" in out and "[实体医疗机构确诊]" in out  # the history with its status
    assert "匹配确诊 I10" in out  # an item's diagnosis matched against it
    assert "王建国" in out and "电子签名：验证通过" in out
    assert "可以审核通过" in out and "不可审核通过" not in out
    assert "(Asia/Shanghai)" in out  # times in the pharmacy's zone

    code, raw, _ = cli("show", "RXSHOW1", "--as", "PH0001", "--json")
    shown = json.loads(raw)
    assert code == 0 and shown["holds_claim"] is True and shown["patient"]["name"] == "张三"
    assert {d["code"] for d in shown["diagnoses"]} >= {"I10", "E11.900"}
    assert shown["result"]["findings"] == [] and shown["prescriber"]["signature_status"] == "valid"
    assert _openings(pharmacy)[-2:] == [{"identity_shown": True, "claimed_by_other": False}] * 2


def test_anyone_else_sees_the_masked_prescription_and_the_opening_is_audited(pharmacy: Pharmacy, cli: Any) -> None:
    pharmacy.receive("RXSHOW2")
    pharmacy.ws.claims.claim(pharmacy.pharmacist, "RXSHOW2")
    code, out, err = cli("show", "RXSHOW2", "--as", "PH0002")
    assert code == 0, err
    assert "张*" in out and "张三" not in out and "13800138000" not in out
    assert "仅认领人可见" in out and "原发性高血压" not in out.split("【药品】")[0]
    assert "您未持有认领" in out
    code, raw, _ = cli("show", "RXSHOW2", "--as", "PH0002", "--json")
    shown = json.loads(raw)
    assert shown["patient"]["name"] == "张*" and shown["patient"]["phone"] is None
    assert shown["diagnoses"] == [] and shown["earlier"] == [] and shown["history_hidden"] is True
    assert [o["identity_shown"] for o in _openings(pharmacy)] == [False, False]


def test_an_unknown_number_is_named(pharmacy: Pharmacy, cli: Any) -> None:
    code, out, err = cli("show", "RXNOSUCH", "--as", "PH0001")
    assert code != 0 and "RXNOSUCH" in err and out == ""
