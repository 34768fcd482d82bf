"""Dispensing labels: printed only for a verified approval, every print audited, every label checkable by its QR."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo
from typing import Any

import pypdf
import pypdfium2
import pytest
import zxingcpp
from sqlalchemy import select

from tests.conftest import Pharmacy
from tests.support import signed_prescription
from workstation.adapters.db import orm
from workstation.services import formulary, site
from workstation.services.labels import LabelRefused, approval_digest

PHARMACY = "浦东示范医院互联网医院药房"


@pytest.fixture
def named(pharmacy: Pharmacy) -> Pharmacy:
    site.set_pharmacy_name(pharmacy.ws.uow, pharmacy.admin, PHARMACY)
    return pharmacy


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def decoded(pdf: bytes, page: int = 0, dpi: int = 400) -> dict[str, list[str]]:
    """The codes on a page, rendered as a printer would, by kind: {"Code128": […], "QRCode": […]}."""
    image = pypdfium2.PdfDocument(pdf)[page].render(scale=dpi / 72).to_pil()
    found: dict[str, list[str]] = {}
    for code in zxingcpp.read_barcodes(image):
        kind = {zxingcpp.BarcodeFormat.Code128: "Code128", zxingcpp.BarcodeFormat.QRCode: "QRCode"}.get(code.format)
        if kind is not None:
            found.setdefault(kind, []).append(code.text)
    return found


def events(pharmacy: Pharmacy, prefix: str = "label.") -> list[tuple[str, dict[str, Any]]]:
    with pharmacy.ws.uow() as uow:
        rows = uow.session.execute(select(orm.AuditEvent.action, orm.AuditEvent.details).where(
            orm.AuditEvent.action.startswith(prefix)).order_by(orm.AuditEvent.id)).all()
    return [(action, json.loads(details)) for action, details in rows]


def test_a_clean_prescription_prints_every_field_on_each_items_label(named: Pharmacy) -> None:
    named.receive("RXLBL1")
    named.approve("RXLBL1")
    printed = named.ws.labels.print(named.pharmacist, "RXLBL1", size="60x40")
    texts = pages_text(printed.pdf)
    assert len(texts) == printed.labels == 2
    today = datetime.now(UTC).astimezone().date()
    for text in texts:
        for field in (PHARMACY, "张三", "男", "66岁", "处方 RXLBL1", "审核药师 李药师", "调配 "):
            assert field in text, (field, text)
        assert str(today.year) in text
    assert "苯磺酸氨氯地平片" in texts[0] and "5mg · 片剂" in texts[0]
    assert "口服，一次1片，一日1次" in texts[0] and "7片 · 7天" in texts[0]
    assert "盐酸二甲双胍片" in texts[1] and "一日2次" in texts[1] and "14片" in texts[1]
    assert "补打" not in texts[0]
    [(action, details)] = events(named)
    assert action == "label.printed" and details["copies"] == 1 and details["labels"] == 2
    assert details["items"] == ["RXLBL1-1", "RXLBL1-2"] and details["size"] == "60x40"


@pytest.mark.parametrize("size", ["60x40", "70x50", "80x60", "a4"])
def test_the_barcode_and_the_qr_code_decode_to_what_was_encoded_on_every_size(named: Pharmacy, size: str) -> None:
    named.receive("RXLBL2")
    decision_id = named.approve("RXLBL2")
    printed = named.ws.labels.print(named.pharmacist, "RXLBL2", size=size)
    found = decoded(printed.pdf)
    assert sorted(found["Code128"]) == ["RXLBL2-1", "RXLBL2-2"][:len(found["Code128"])]  # A4: both on one sheet
    assert len(found["Code128"]) == (2 if size == "a4" else 1)
    qr = found["QRCode"][0]
    with named.ws.uow() as uow:
        jws = uow.session.get_one(orm.Decision, decision_id).signature_jws or ""
    assert qr == f"RXWS1/RXLBL2/{decision_id.upper()}/{approval_digest(jws)}" == printed.job.qr
    checked = named.ws.labels.check(qr, actor="test")
    assert checked.ok and checked.prescription == "RXLBL2" and checked.patient == "张*"
    assert checked.pharmacist == "李药师" and checked.decision_id == decision_id


def test_a_line_that_fills_several_packages_gets_a_label_for_each(named: Pharmacy) -> None:
    csv = ("code,name_zh,name_en,generic_zh,generic_en,atc,dosage_form,strength,special_category,max_daily_dose_mg,"
           "skin_test_required,ingredients_zh,ingredients_en,storage,label_warnings,package_size,package_unit\n"
           "D0001,苯磺酸氨氯地平片,Amlodipine Besylate Tablets,氨氯地平,amlodipine,C08CA01,片剂,5mg,,10,no,氨氯地平,"
           "amlodipine,遮光，密封保存,,5,盒\n"
           "D0002,盐酸二甲双胍片,Metformin Hydrochloride Tablets,二甲双胍,metformin,A10BA02,片剂,0.5g,,2550,no,二甲双胍,"
           "metformin,,餐中或餐后服用,,\n")
    formulary.import_formulary(named.ws.uow(), csv.encode("utf-8"), "test.csv", actor="test")
    named.receive("RXLBL3")  # 7 tablets, 5 in a box: two boxes
    named.approve("RXLBL3")
    texts = pages_text(named.ws.labels.print(named.pharmacist, "RXLBL3").pdf)
    amlodipine = [t for t in texts if "苯磺酸氨氯地平片" in t]
    assert len(amlodipine) == 2 and "1/2" in amlodipine[0] and "2/2" in amlodipine[1]
    assert all("遮光，密封保存" in t and "7片 · 7天" in t for t in amlodipine)
    [metformin] = [t for t in texts if "盐酸二甲双胍片" in t]
    assert "餐中或餐后服用" in metformin and "1/" not in metformin


def test_a_childs_label_tells_the_guardian_to_supervise(named: Pharmacy) -> None:
    born = date.today() - timedelta(days=365 * 10 + 30)
    data = json.loads(signed_prescription("RXLBL4", datetime.now(UTC)))
    for entry in data["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["birthDate"] = born.isoformat()  # not signed by the prescriber: the items are
    report = named.ws.intake.ingest(json.dumps(data, ensure_ascii=False).encode("utf-8"), "test:RXLBL4")
    assert report.outcome == "stored"
    named.approve("RXLBL4")
    texts = pages_text(named.ws.labels.print(named.pharmacist, "RXLBL4").pdf)
    assert all("10岁" in t and "儿童用药须在监护人指导下使用" in t for t in texts)


def test_only_an_approved_prescription_is_printed_and_a_refusal_is_audited(named: Pharmacy) -> None:
    named.receive("RXLBL5")
    with pytest.raises(LabelRefused, match="not approved"):
        named.ws.labels.print(named.pharmacist, "RXLBL5")
    with pytest.raises(LabelRefused, match="RXNONE"):
        named.ws.labels.print(named.pharmacist, "RXNONE")
    assert [a for a, _ in events(named)] == ["label.refused", "label.refused"]
    assert "not approved" in events(named)[0][1]["reason"]


def test_a_prescription_altered_after_its_approval_is_not_printed(named: Pharmacy) -> None:
    named.receive("RXLBL6")
    named.approve("RXLBL6")
    with named.ws.uow() as uow:
        item = uow.session.scalars(select(orm.PrescriptionItem).join(orm.Prescription).where(
            orm.Prescription.number == "RXLBL6").order_by(orm.PrescriptionItem.position)).first()
        assert item is not None
        mr = json.loads(item.resource_json)
        mr["dispenseRequest"]["quantity"]["value"] = 700
        item.resource_json = json.dumps(mr)
        uow.commit()
    with pytest.raises(LabelRefused, match="changed after it was signed"):
        named.ws.labels.print(named.pharmacist, "RXLBL6")


def test_a_second_print_is_a_reprint_marked_on_the_label_and_audited(named: Pharmacy) -> None:
    named.receive("RXLBL7")
    named.approve("RXLBL7")
    named.ws.labels.print(named.pharmacist, "RXLBL7")
    with pytest.raises(LabelRefused, match="--reprint"):
        named.ws.labels.print(named.pharmacist, "RXLBL7")
    again = named.ws.labels.print(named.lead, "RXLBL7", size="80x60", reprint=True, copies=2)
    texts = pages_text(again.pdf)
    assert again.reprint and len(texts) == again.labels == 4 and all("补打" in t for t in texts)
    assert [a for a, _ in events(named)] == ["label.printed", "label.refused", "label.reprinted"]
    details = events(named)[-1][1]
    assert details["copies"] == 2 and details["labels"] == 4 and details["size"] == "80x60"


def test_a_scanned_label_that_was_forged_or_outlived_its_prescription_does_not_check(named: Pharmacy) -> None:
    named.receive("RXLBL8")
    named.approve("RXLBL8")
    qr = named.ws.labels.print(named.pharmacist, "RXLBL8").job.qr
    head, digest = qr.rsplit("/", 1)
    forged = named.ws.labels.check(f"{head}/{'A' * 16 if digest != 'A' * 16 else 'B' * 16}", actor="test")
    assert not forged.ok and "digest" in forged.reason
    other = named.ws.labels.check(qr.replace("RXLBL8", "RXLBL9"), actor="test")
    assert not other.ok and "RXLBL9" in other.reason
    assert not named.ws.labels.check("hello", actor="test").ok
    assert not named.ws.labels.check(qr.replace(qr.split("/")[2], "0" * 8 + "-0000-0000-0000-" + "0" * 12),
                                     actor="test").ok
    with named.ws.uow() as uow:  # altered after printing
        row = uow.session.scalars(select(orm.Prescription).where(orm.Prescription.number == "RXLBL8")).one()
        row.content_sha256 = "0" * 64
        uow.commit()
    altered = named.ws.labels.check(qr, actor="test")
    assert not altered.ok and "changed after it was signed" in altered.reason
    assert [d["ok"] for a, d in events(named) if a == "label.checked"] == [False, False, False, False, False]


def test_the_command_line_prints_refuses_and_verifies(named: Pharmacy, cli: Any, tmp_path: Any) -> None:
    named.receive("RXLBL10")
    named.receive("RXLBL11")
    named.approve("RXLBL10")
    target = tmp_path / "l.pdf"
    code, out, err = cli("label", "RXLBL10", "--as", "PH0001", "--size", "70x50", "--out", str(target))
    assert code == 0 and "2 张标签" in out and target.read_bytes().startswith(b"%PDF"), err
    code, out, err = cli("label", "RXLBL11", "--as", "PH0001")
    assert code == 1 and "not approved" in err
    [qr] = decoded(target.read_bytes())["QRCode"]
    code, out, _ = cli("label", "verify", qr)
    assert code == 0 and "label valid" in out and "RXLBL10" in out
    code, out, _ = cli("label", "verify", qr, "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = cli("label", "verify", "RXWS1/RXLBL10/not-a-decision/AAAA")
    assert code == 1 and "NOT valid" in out
    code, _, err = cli("label", "RXLBL10")
    assert code == 2 and "--as" in err


def test_a_days_approvals_print_as_one_batch_and_a_cancelled_batch_prints_nothing(named: Pharmacy) -> None:
    for number in ("RXLBL20", "RXLBL21", "RXLBL22"):
        named.receive(number)
        named.approve(number)
    named.ws.labels.print(named.pharmacist, "RXLBL21")
    today = datetime.now(UTC).astimezone(ZoneInfo(named.ws.settings.pharmacy_time_zone)).date()
    day = named.ws.labels.approved_on(named.pharmacist, today)
    assert [(a.number, a.printed, a.patient) for a in day] == [
        ("RXLBL20", False, "张*"), ("RXLBL21", True, "张*"), ("RXLBL22", False, "张*")]
    assert named.ws.labels.approved_on(named.pharmacist, today - timedelta(days=1)) == []

    before = len(events(named))
    cancelled = named.ws.labels.print_batch(named.pharmacist, ["RXLBL20", "RXLBL22"], go_on=lambda done, _: done < 1)
    assert cancelled.cancelled and cancelled.pdf is None and len(events(named)) == before

    seen: list[tuple[int, int]] = []
    batch = named.ws.labels.print_batch(named.pharmacist, [a.number for a in day],
                                        go_on=lambda done, total: seen.append((done, total)) is None)
    assert batch.printed == ("RXLBL20", "RXLBL22") and [n for n, _ in batch.refused] == ["RXLBL21"]
    assert batch.pdf is not None and len(pages_text(batch.pdf)) == batch.labels == 4
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    actions = [a for a, _ in events(named)][before:]
    assert actions == ["label.refused", "label.printed", "label.printed"]
