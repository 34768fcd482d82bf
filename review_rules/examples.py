"""Build snapshots from the short ``key=value`` examples written in rule docstrings.

A clean baseline — a 40-year-old's signed follow-up prescription for amlodipine, diagnosis I10
confirmed offline — is changed only by what an example says, so each example shows exactly the
fact that makes its rule fire or pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from review_rules.model import (
    Allergy,
    Diagnosis,
    Dispense,
    DrugFacts,
    Item,
    Participant,
    Patient,
    Prescriber,
    SignatureCheck,
    Snapshot,
    SpecialFact,
    Unreadable,
    Visit,
)

AUTHORED = datetime.fromisoformat("2026-06-01T09:00:00+08:00")
REVIEW = datetime.fromisoformat("2026-06-01T10:00:00+08:00")

DRUGS: dict[str, DrugFacts] = {
    "amlodipine": DrugFacts("苯磺酸氨氯地平片", True, "D0001", atc="C08CA01", ingredients=("amlodipine", "氨氯地平"),
                            max_daily_dose_mg=Decimal(10), strength_mg=Decimal(5)),
    "nifedipine": DrugFacts("硝苯地平控释片", True, "D0022", atc="C08CA05", ingredients=("nifedipine", "硝苯地平"),
                            max_daily_dose_mg=Decimal(120), strength_mg=Decimal(30)),
    "metformin": DrugFacts("盐酸二甲双胍片", True, "D0002", atc="A10BA02", ingredients=("metformin", "二甲双胍"),
                           max_daily_dose_mg=Decimal(2550), strength_mg=Decimal(500)),
    "atorvastatin": DrugFacts("阿托伐他汀钙片", True, "D0003", atc="C10AA05", ingredients=("atorvastatin",),
                              max_daily_dose_mg=Decimal(80), strength_mg=Decimal(20)),
    "aspirin": DrugFacts("阿司匹林肠溶片", True, "D0025", atc="B01AC06", ingredients=("acetylsalicylic acid", "阿司匹林"),
                         strength_mg=Decimal(100)),
    "omeprazole": DrugFacts("奥美拉唑肠溶胶囊", True, "D0010", atc="A02BC01", ingredients=("omeprazole",),
                            max_daily_dose_mg=Decimal(120), strength_mg=Decimal(20)),
    "ibuprofen_suspension": DrugFacts("布洛芬混悬液", True, "D0006", atc="M01AE01", ingredients=("ibuprofen", "布洛芬"),
                                      max_daily_dose_mg=Decimal(2400), strength_mg_per_ml=Decimal(20)),
    "levothyroxine": DrugFacts("左甲状腺素钠片", True, "D0012", atc="H03AA01", ingredients=("levothyroxine",)),
    "warfarin": DrugFacts("华法林钠片", True, "D0027", atc="B01AA03", ingredients=("warfarin", "华法林"),
                          special=(SpecialFact("online_sale_prohibited", "华法林 列入网络销售禁止清单 / warfarin is on the ban list"),),
                          strength_mg=Decimal("2.5")),
    "clarithromycin": DrugFacts("克拉霉素片", True, "D0029", atc="J01FA09", ingredients=("clarithromycin",),
                                max_daily_dose_mg=Decimal(1000), strength_mg=Decimal(250)),
    "simvastatin": DrugFacts("辛伐他汀片", True, "D0028", atc="C10AA01", ingredients=("simvastatin",),
                             max_daily_dose_mg=Decimal(40), strength_mg=Decimal(20)),
    "penicillin_v": DrugFacts("青霉素V钾片", True, "D0301", atc="J01CE02", ingredients=("phenoxymethylpenicillin",),
                              skin_test_required=True),
    "oxycodone": DrugFacts("盐酸羟考酮缓释片", True, "D0101", atc="N02AA05", ingredients=("oxycodone", "羟考酮"),
                           special=(SpecialFact("narcotic", "羟考酮 列入麻醉药品目录 / oxycodone is a narcotic"),)),
    "zolpidem": DrugFacts("酒石酸唑吡坦片", True, "D0107", atc="N05CF02", ingredients=("zolpidem",),
                          special=(SpecialFact("psychotropic_2", "唑吡坦 第二类精神药品 / zolpidem, psychotropic II"),)),
    "methylphenidate": DrugFacts("盐酸哌甲酯缓释片", True, "D0108", atc="N06BA04", ingredients=("methylphenidate",),
                                 special=(SpecialFact("psychotropic_1", "哌甲酯 第一类精神药品 / methylphenidate, psychotropic I"),)),
    "ephedrine": DrugFacts("盐酸麻黄碱滴鼻液", True, "D0115", atc="R01AA03", ingredients=("ephedrine",),
                           special=(SpecialFact("precursor_chemical", "麻黄碱 药品类易制毒化学品 / ephedrine, precursor"),)),
    "unknown": DrugFacts("达格列净片", False, unknown_reason="目录中无此药 / not in the formulary", ingredients=("dapagliflozin",)),
}


def baseline() -> Snapshot:
    item = Item("mr-1", DRUGS["amlodipine"], AUTHORED, ("I10",), Decimal(1), "{tbl}", "QD", quantity=Decimal(7),
                supply_days=Decimal(7), dosage_text="口服，每日1次，每次1片")
    return Snapshot(
        number="RXEXAMPLE",
        items=(item,),
        patient=Patient("张三", "male", date(1986, 1, 15), "1986-01-15"),
        prescriber=Prescriber("practitioner", "110310000123456", "王建国", date(2015, 7, 1), True),
        visit=Visit(True, ()),
        signature=SignatureCheck("valid"),
        review_time=REVIEW,
        diagnoses=(Diagnosis("I10", True, "原发性高血压", "上海市第一人民医院", "outpatient-record"),),
    )


def _value(text: str) -> object:
    if text in ("yes", "no"):
        return text == "yes"
    if text == "none":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def examples(doc: str) -> Iterator[tuple[str, dict[str, object]]]:
    """(``fires`` or ``passes``, facts) for every example line of a docstring."""
    for line in doc.splitlines():
        m = re.match(r"\s*(fires|passes):\s*(.*)$", line)
        if m:
            facts = dict(part.split("=", 1) for part in m.group(2).split())
            yield m.group(1), {k: _value(v) for k, v in facts.items()}


def build(facts: dict[str, object]) -> Snapshot:
    """The baseline with ``facts`` applied, in a fixed order so that combinations mean one thing."""
    s = baseline()
    item = s.items[0]
    if "drugs" in facts:
        names = str(facts["drugs"]).split(",")
        s = replace(s, items=tuple(replace(item, id=f"mr-{i + 1}", drug=DRUGS[n]) for i, n in enumerate(names)))
    if "drug" in facts:
        s = replace(s, items=(replace(item, drug=DRUGS[str(facts["drug"])]),))
    if "authored" in facts:
        when = datetime.fromisoformat(str(facts["authored"]))
        s = replace(s, items=tuple(replace(i, authored_on=when) for i in s.items))
    if "review" in facts:
        s = replace(s, review_time=datetime.fromisoformat(str(facts["review"])))
    elif "authored" in facts:
        s = replace(s, review_time=datetime.fromisoformat(str(facts["authored"])))
    on = min(i.authored_on for i in s.items if i.authored_on).date()
    if "age" in facts:
        years = int(str(facts["age"]))
        born = date(on.year - years, on.month, on.day) - (date(2001, 1, 2) - date(2001, 1, 1))
        s = replace(s, patient=replace(s.patient, birth_date=born, birth_date_raw=born.isoformat()))
    if "born" in facts:
        raw = facts["born"]
        born_date = date.fromisoformat(str(raw)) if raw else None
        s = replace(s, patient=replace(s.patient, birth_date=born_date, birth_date_raw=str(raw) if raw else None))
    participants: list[Participant] = []
    if facts.get("guardian"):
        participants.append(Participant("guardian", "rp-1", "李母"))
    if facts.get("accompanying"):
        participants.append(Participant("accompanying_physician", "prac-2", "赵医生", ("394537008",)))
    s = replace(s, visit=Visit(bool(facts.get("follow_up", True)), tuple(participants)))
    if facts.get("visit") is False:
        s = replace(s, visit=None)
    if "dx" in facts:
        codes = tuple(str(facts["dx"]).split(",")) if facts["dx"] else ()
        s = replace(s, items=tuple(replace(i, diagnosis_codes=codes) for i in s.items))
    if "confirmed" in facts or "unconfirmed" in facts:
        confirmed = str(facts["confirmed"]).split(",") if facts.get("confirmed") else []
        unconfirmed = str(facts["unconfirmed"]).split(",") if facts.get("unconfirmed") else []
        s = replace(s, diagnoses=tuple(Diagnosis(c, True) for c in confirmed) + tuple(Diagnosis(c, False) for c in unconfirmed))
    if "prescriber" in facts:
        s = replace(s, prescriber=replace(s.prescriber, kind=str(facts["prescriber"])))
    if "verified" in facts:
        s = replace(s, prescriber=replace(s.prescriber, real_name_verified=bool(facts["verified"])))
    if "practice_start" in facts:
        ps = facts["practice_start"]
        s = replace(s, prescriber=replace(s.prescriber, practice_start=date.fromisoformat(str(ps)) if ps else None))
    if "signature" in facts:
        s = replace(s, signature=SignatureCheck(str(facts["signature"]), f"example: {facts['signature']}"))
    if facts.get("dispensed"):
        s = replace(s, dispenses=(Dispense(s.items[0].id, datetime.fromisoformat(str(facts["dispensed"]))),))
    item_changes: dict[str, object] = {}
    if "validity_end" in facts:
        item_changes["validity_end"] = facts["validity_end"]
    if "days" in facts:
        item_changes["supply_days"] = Decimal(str(facts["days"]))
    if "long_term" in facts:
        item_changes["long_term"] = bool(facts["long_term"])
    if "emergency" in facts:
        item_changes["emergency"] = bool(facts["emergency"])
    if "note" in facts:
        item_changes["notes"] = (str(facts["note"]),)
    if "skin_test" in facts:
        item_changes["skin_test_result"] = facts["skin_test"]
    if "dose" in facts:
        item_changes["dose_value"] = None if facts["dose"] is None else Decimal(str(facts["dose"]))
    if "dose_unit" in facts:
        item_changes["dose_unit"] = facts["dose_unit"]
    if "timing" in facts:
        item_changes["timing_code"] = facts["timing"]
        if facts["timing"] is None:
            item_changes["dosage_text"] = None
    if "quantity" in facts:
        item_changes["quantity"] = None if facts["quantity"] is None else Decimal(str(facts["quantity"]))
    if item_changes:
        s = replace(s, items=tuple(replace(i, **item_changes) for i in s.items))  # type: ignore[arg-type]
    if "allergy" in facts:
        s = replace(s, patient=replace(s.patient, allergies=(Allergy(str(facts["allergy"])),)))
    if "unreadable" in facts:  # resource types that arrived but failed validation
        s = replace(s, unreadable=tuple(Unreadable(t, f"{t}/example", "example: fails validation")
                                        for t in str(facts["unreadable"]).split(",")))
    if "name" in facts:
        s = replace(s, patient=replace(s.patient, name=facts["name"]))  # type: ignore[arg-type]
    return s
