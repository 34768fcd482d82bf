"""Tests of drug classification: the formulary and the regulatory lists, read as special_drugs.md says."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from decimal import Decimal
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources import read_resource
from tests.support import SHARED, example_paths, external_paths
from workstation.adapters.fhir_bundle import parse_bundle
from workstation.domain.classification import (
    ATC_SYSTEM,
    DRUG_SYSTEM,
    RXNORM_SYSTEM,
    Classifier,
    DrugClassification,
)
from workstation.domain.formulary import FORMULARY_COLUMNS, FormularyEntry, parse_formulary_csv
from workstation.domain.prescription import Coding, Concept, Item
from workstation.domain.special_drugs import (
    RULE_FOR_CATEGORY,
    SPECIAL_CATEGORIES,
    SpecialDrugList,
    SpecialDrugListError,
    parse_special_drugs_csv,
)

EXAMPLE_FORMULARY = SHARED / "examples" / "formulary.csv"
needs_examples = pytest.mark.skipif(not EXAMPLE_FORMULARY.is_file(), reason=f"no shared examples at {SHARED}")
needs_synthea = pytest.mark.skipif(not external_paths(),
                                   reason=f"no Synthea bundles under {SHARED / 'external'}")

CONTROLLED = {"narcotic", "psychotropic_1", "psychotropic_2", "toxic", "radioactive", "precursor_chemical"}
ONLINE = "online_sale_prohibited"


@cache
def special() -> SpecialDrugList:
    return parse_special_drugs_csv(read_resource("regulatory", "special_drugs.csv"), "packaged")


@cache
def example_formulary() -> tuple[FormularyEntry, ...]:
    return tuple(parse_formulary_csv(EXAMPLE_FORMULARY.read_bytes(), "formulary.csv"))


@cache
def lists_only() -> Classifier:
    """No formulary: what the lists alone say about a name."""
    return Classifier((), special())


@cache
def with_examples() -> Classifier:
    return Classifier(example_formulary(), special())


def formulary(*rows: dict[str, str]) -> list[FormularyEntry]:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, FORMULARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"skin_test_required": "no", **row})
    return parse_formulary_csv(out.getvalue().encode(), "test.csv")


def item(drug: Concept, ingredients: Iterable[Concept] = (), form: str | None = None) -> Item:
    return Item(
        fhir_id="mr-1", status="active", intent="order", authored_on=None, authored_on_raw=None, drug=drug,
        medication_form=form, ingredients=tuple(ingredients), reason_codes=(), reason_condition_ids=(),
        dosage_text=None, timing_code=None, frequency=None, period=None, period_unit=None, route=None,
        dose_value=None, dose_unit=None, quantity_value=None, quantity_unit=None, supply_days=None,
        validity_start=None, validity_end=None, course_of_therapy=None, priority=None, notes=(),
        skin_test_result=None, resource_json="{}",
    )


def named(text: str, classifier: Classifier | None = None, form: str | None = None) -> DrugClassification:
    return (classifier or lists_only()).classify(item(Concept((), text), form=form))


def rxnorm(display: str, classifier: Classifier | None = None) -> DrugClassification:
    return (classifier or lists_only()).classify(item(Concept((Coding(RXNORM_SYSTEM, "0", display),))))


def flagged(result: DrugClassification, category: str, ingredient: str) -> bool:
    return any(f.category == category and f.ingredient == ingredient for f in result.flags)


# --- the shared examples ---------------------------------------------------------------------------------


@needs_examples
def test_every_example_formulary_row_classifies_to_itself() -> None:
    classifier = with_examples()
    for entry in example_formulary():
        by_code = classifier.classify(item(Concept((Coding(DRUG_SYSTEM, entry.code, entry.name_zh),))))
        assert by_code.formulary_entry is entry, entry.code
        assert by_code.matched_by == "catalogue code"
        assert by_code.unknown_reason is None
        if entry.special_category:
            assert entry.special_category in by_code.categories, entry.code
        # The names alone find the same product (the example formulary has no two products of one name).
        for name in (entry.name_zh, entry.name_en or entry.name_zh):
            by_name = named(name, classifier)
            assert by_name.formulary_entry is entry, (entry.code, name)
            assert by_name.matched_by == "product name"


@needs_examples
def test_example_formulary_flags_and_list_reading_agree() -> None:
    """Each row's own flag is what the lists say too, except where the formulary is stricter (atropine)."""
    classifier = with_examples()
    for entry in example_formulary():
        result = named(entry.name_zh, classifier)
        listed = [f for f in result.flags if f.list_entry is not None and f.category in CONTROLLED]
        if entry.special_category and entry.code != "D0111":
            assert any(f.category == entry.special_category for f in listed), entry.code
        if not entry.special_category:
            assert not set(result.categories) & CONTROLLED, (entry.code, result.categories)
    atropine = named("硫酸阿托品片", classifier)
    assert atropine.categories == ("toxic",)
    # The formulary's flag; the list itself means the raw material.
    assert [f.list_entry for f in atropine.flags] == [None]
    assert any("原料药" in n for n in atropine.notes)


@pytest.mark.skipif(not example_paths(), reason="no shared example bundles")
def test_drugs_of_the_example_bundles() -> None:
    expected = {
        "苯磺酸氨氯地平片": (), "盐酸二甲双胍片": (), "布洛芬混悬液": (),
        "盐酸羟考酮缓释片": ("narcotic",), "艾司唑仑片": ("psychotropic_2",),
    }
    seen = set()
    for path in example_paths():
        for prescription in parse_bundle(path.read_bytes()).prescriptions:
            for mr in prescription.items:
                result = with_examples().classify(mr)
                name = mr.drug.label()
                assert result.categories == expected[name], (path.name, name)
                assert result.formulary_entry is not None and result.matched_by == "catalogue code"
                seen.add(name)
    assert {"盐酸羟考酮缓释片", "艾司唑仑片", "苯磺酸氨氯地平片", "盐酸二甲双胍片"} <= seen
    narcotic = [f for f in named("盐酸羟考酮缓释片").flags if f.category == "narcotic"]
    assert narcotic[0].via == ("成分 羟考酮 (oxycodone) 列入麻醉药品目录 / "
                               "ingredient oxycodone is on the narcotic list")
    assert narcotic[0].rule_id == "special_drug.narcotic"


# --- English RxNorm names (Synthea) ----------------------------------------------------------------------

SYNTHEA_EXPECTED: dict[str, tuple[str, ...]] = {
    "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet": ("psychotropic_2", ONLINE),
    "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet": ("psychotropic_2", ONLINE),
    "Abuse-Deterrent 12 HR Oxycodone Hydrochloride 15 MG Extended Release Oral Tablet": ("narcotic",),
    "Acetaminophen 300 MG / HYDROcodone Bitartrate 5 MG [Vicodin]": ("psychotropic_2", ONLINE),
    "Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet": ("psychotropic_1", ONLINE),
    "Acetaminophen/Hydrocodone": ("psychotropic_1", ONLINE),  # strength unknown: the stricter class
    "Clonazepam [Klonopin]": ("psychotropic_2",),
    "Diazepam [Valium]": ("psychotropic_2",),
    "Diazepam 5 MG Oral Tablet": ("psychotropic_2",),
    "Methylphenidate Hydrochloride 20 MG Oral Tablet": ("psychotropic_1",),
    "Meperidine Hydrochloride 50 MG Oral Tablet": ("narcotic",),
    "1 ML Morphine Sulfate 5 MG/ML Injection": ("narcotic", ONLINE),
    "Midazolam 1 MG/ML Injectable Solution": ("psychotropic_1", ONLINE),
    "Remifentanil": ("narcotic",),
    "Carbamazepine[Tegretol]": (ONLINE,),
    "Isoflurane 999 MG/ML Inhalant Solution": (ONLINE,),
    ("Acetaminophen 21.7 MG/ML / Dextromethorphan Hydrobromide 1 MG/ML / doxylamine succinate 0.417 MG/ML "
     "Oral Solution"): (),
    "Acetaminophen 325 MG Oral Tablet": (),
    "Acetaminophen 325 MG Oral Tablet [Tylenol]": (),
    "Acetaminophen 160 MG Oral Tablet": (),
    "Ibuprofen 100 MG Oral Tablet": (),
    "Ibuprofen 200 MG Oral Tablet": (),
    "Amoxicillin 250 MG Oral Capsule": (),
    "Amoxicillin 500 MG Oral Tablet": (),
    "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet": (),
    "Aspirin 81 MG Oral Tablet": (),
    "Naproxen sodium 220 MG Oral Tablet": (),
    "lisinopril 10 MG Oral Tablet": (),
    "Hydrochlorothiazide 25 MG Oral Tablet": (),
    "Hydrochlorothiazide 25 MG": (),
    "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet": (),
    "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet [Toprol]": (),
    "budesonide 0.25 MG/ML Inhalation Suspension": (),
    "albuterol 0.21 MG/ML Inhalation Solution": (),
    "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler": (),
    "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler": (),
    "Loratadine 5 MG Chewable Tablet": (),
    "Fexofenadine hydrochloride 30 MG Oral Tablet": (),
    "Fluoxetine 25MG": (),
    "Sertraline 100MG": (),
    "atomoxetine 100 MG Oral Capsule": (),
    "Nitrofurantoin 5 MG/ML Oral Suspension": (),
    "Nitroglycerin 0.4 MG/ACTUAT Mucosal Spray": (),
    "Phenazopyridine hydrochloride 100 MG Oral Tablet": (),
    "diphenhydrAMINE Hydrochloride 25 MG Oral Tablet": (),
    "ferrous sulfate 325 MG Oral Tablet": (),
    "predniSONE 5 MG Oral Tablet": (),
    "heparin sodium, porcine": (),
    "Errin 28 Day Pack": (),
    "Lasix 40mg": (),
    # Injections other than glucose-lowering ones are on the online-sale ban list (禁止清单 2022).
    ("insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML Injectable Suspension "
     "[Humulin]"): (),
    "Sodium Chloride 9 MG/ML Injectable Solution": (ONLINE,),
    "10 ML Furosemide 10 MG/ML Injection": (ONLINE,),
    "2 ML Ondansetron 2 MG/ML Injection": (ONLINE,),
    "100 ML Propofol 10 MG/ML Injection": (ONLINE,),
    "Rocuronium bromide 10 MG/ML Injectable Solution": (ONLINE,),
    "Piperacillin 4000 MG / tazobactam 500 MG Injection": (ONLINE,),
    "NDA020800 0.3 ML Epinephrine 1 MG/ML Auto-Injector": (ONLINE,),
}


@pytest.mark.parametrize("display", sorted(SYNTHEA_EXPECTED))
def test_rxnorm_product_names(display: str) -> None:
    assert rxnorm(display).categories == SYNTHEA_EXPECTED[display]
    assert rxnorm(display, with_examples() if EXAMPLE_FORMULARY.is_file() else None).categories == \
        SYNTHEA_EXPECTED[display]


@needs_synthea
def test_every_medication_of_the_synthea_bundles_is_covered_and_classified() -> None:
    seen: set[str] = set()
    for path in external_paths():
        for entry in json.loads(path.read_bytes()).get("entry", []):
            resource = entry.get("resource", {})
            concept = resource.get("medicationCodeableConcept")
            if resource.get("resourceType") != "MedicationRequest" or not concept:
                continue
            codings = tuple(Coding(c.get("system"), c.get("code"), c.get("display"))
                            for c in concept.get("coding", []))
            result = lists_only().classify(item(Concept(codings, concept.get("text"))))
            text = concept.get("text") or codings[0].display or ""
            seen.add(text)
            assert result.categories == SYNTHEA_EXPECTED[text], text
    assert seen <= set(SYNTHEA_EXPECTED)


def test_rxnorm_threshold_examples_from_the_brief() -> None:
    ten = rxnorm("Hydrocodone Bitartrate 10 MG / Acetaminophen 325 MG Oral Tablet")
    assert ten.categories == ("psychotropic_1", ONLINE) and ten.is_compound
    assert "10 mg" in ten.flags[0].via and ten.flags[0].ingredient == "hydrocodone"
    five = rxnorm("Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet")
    assert five.categories == ("psychotropic_2", ONLINE)
    # The threshold is read on the stated amount as base: 5 mg of a salt is at most 5 mg of base.
    for amount, category in (("5 MG", "psychotropic_2"), ("7.5 MG", "psychotropic_1"),
                             ("0.0055 G", "psychotropic_1")):
        result = rxnorm(f"Oxycodone Hydrochloride {amount} / Acetaminophen 325 MG Oral Tablet")
        assert result.categories[0] == category, amount
    patch = rxnorm("Fentanyl 25 MCG/HR Transdermal System")
    assert patch.categories == ("narcotic",) and patch.ingredients == ("fentanyl",)
    assert rxnorm("Oxycodone Hydrochloride 5 MG Oral Tablet").categories == ("narcotic",)


def test_full_width_and_mixed_case_names() -> None:
    assert named("ＯＸＹＣＯＤＯＮＥ").categories == ("narcotic",)
    assert named("ＯＸＹＣＯＤＯＮＥ　ＨＣＬ　５ｍｇ").categories == ("narcotic",)
    assert named("oxyCODONE hydrochloride").categories == ("narcotic",)
    assert named("盐酸羟考酮缓释片（１０ｍｇ）").categories == ("narcotic",)
    assert named("盐酸羟考酮缓释片 Oxycodone HCl ER").categories == ("narcotic",)


# --- Chinese product names, salts, isomers, forms --------------------------------------------------------

NAMES: list[tuple[str, tuple[str, ...]]] = [
    ("盐酸羟考酮缓释片", ("narcotic",)),
    ("硫酸吗啡缓释片", ("narcotic",)),
    ("酒石酸唑吡坦片", ("psychotropic_2",)),
    ("枸橼酸芬太尼注射液", ("narcotic", ONLINE)),
    ("芬太尼透皮贴剂", ("narcotic",)),
    ("磷酸可待因片", ("narcotic",)),
    ("重酒石酸氢可酮片", ("narcotic",)),
    ("马来酸咪达唑仑片", ("psychotropic_2",)),  # only the API and injections moved to category I
    ("咪达唑仑注射液", ("psychotropic_1", ONLINE)),
    ("咪达唑仑", ("psychotropic_1",)),  # form unknown: the stricter row
    ("丁丙诺啡透皮贴剂", ("psychotropic_2",)),  # the patch row overrides the substance's category I
    ("盐酸丁丙诺啡舌下片", ("psychotropic_1",)),
    ("氢溴酸右美沙芬片", ("psychotropic_2", ONLINE)),  # also 右美沙芬口服单方制剂 on the ban list
    ("盐酸曲马多缓释片", ("psychotropic_2",)),
    ("盐酸哌甲酯缓释片", ("psychotropic_1",)),
    ("羟丁酸钠口服溶液", ("psychotropic_1",)),  # γ-羟丁酸, sodium salt
    ("咖啡因片", ("psychotropic_2",)),
    ("盐酸伪麻黄碱片", ("precursor_chemical",)),
    ("盐酸麻黄碱滴鼻液", ("precursor_chemical",)),
    ("马来酸麦角新碱注射液", ("precursor_chemical", ONLINE)),
    ("生川乌", ("toxic",)),  # a TCM toxic herb, raw
    ("阿托品", ("toxic",)),  # the raw material
    ("注射用三氧化二砷", ("toxic", ONLINE)),  # = 亚砷酸注射液, a preparation the toxic list names
    ("A型肉毒毒素注射剂", ("toxic", ONLINE)),  # "及其制剂": its preparations too
    ("氟[18F]脱氧葡糖注射液", ("radioactive", ONLINE)),
    ("碘[131I]化钠胶囊", ("radioactive",)),
    ("华法林钠片", (ONLINE,)),
    ("苯妥英钠片", (ONLINE,)),
    ("碳酸锂缓释片", (ONLINE,)),
    ("夫西地酸钠片", (ONLINE,)),
    ("夫西地酸乳膏", ()),  # antimicrobials: topical forms are not on the ban list
    ("伏立康唑片", (ONLINE,)),
]


@pytest.mark.parametrize(("name", "expected"), NAMES)
def test_chinese_names(name: str, expected: tuple[str, ...]) -> None:
    assert named(name).categories == expected


ISOMERS: list[tuple[str, str, str]] = [
    ("艾司氯胺酮注射液", "psychotropic_1", "氯胺酮"),
    ("Esketamine 28 MG Nasal Spray", "psychotropic_1", "ketamine"),
    ("arketamine", "psychotropic_1", "ketamine"),
    ("Levomethadone Hydrochloride 5 MG/ML Oral Solution", "narcotic", "methadone"),
    ("左美沙酮", "narcotic", "美沙酮"),
    ("Dexmethylphenidate Hydrochloride 10 MG Oral Tablet", "psychotropic_1", "methylphenidate"),
    ("右哌甲酯", "psychotropic_1", "哌甲酯"),
    ("右佐匹克隆片", "psychotropic_2", "佐匹克隆"),
    ("Eszopiclone 2 MG Oral Tablet", "psychotropic_2", "zopiclone"),
    ("armodafinil", "psychotropic_2", "modafinil"),
    ("levomethorphan", "narcotic", "racemethorphan"),  # an enantiomer of the listed racemate
    ("l-methadone", "narcotic", "methadone"),
]


@pytest.mark.parametrize(("name", "category", "parent"), ISOMERS)
def test_isomers_of_listed_substances(name: str, category: str, parent: str) -> None:
    result = named(name)
    assert result.categories[0] == category
    assert any("isomer" in f.via and parent in f.via for f in result.flags)


def test_an_isomer_listed_in_its_own_right_keeps_its_own_category() -> None:
    # 右美沙芬 is psychotropic_2 by its own row, not narcotic as an isomer of 消旋甲啡烷 (racemethorphan).
    assert named("dextromethorphan").categories[0] == "psychotropic_2"
    assert named("右苯丙胺").categories == ("psychotropic_1",)
    # An isomer the formulary does not stock is not its parent's product.
    result = named("dexmethylphenidate", with_examples() if EXAMPLE_FORMULARY.is_file() else None)
    assert result.formulary_entry is None and result.unknown_reason


def test_salts_and_forms_around_every_listed_substance() -> None:
    """Every single-substance row of the narcotic, psychotropic and precursor lists, wrapped in a salt, a form
    and a strength, is still found (in Chinese and, where the row spells it, in English)."""
    wrapped = 0
    for entry in special().entries:
        zh, en = entry.name_zh, entry.name_en
        if entry.category not in {"narcotic", "psychotropic_1", "psychotropic_2", "precursor_chemical"}:
            continue
        marks = ("（", "(", "和", "制剂", "；", "片", "贴", "注射")
        if any(mark in zh + en for mark in marks) or " and " in en:
            continue
        if "EXCEPT" in entry.notes:  # 依托咪酯: only the raw substance is listed
            continue
        for text in (f"盐酸{zh}片 10mg", f"{zh}胶囊", f"{en.capitalize()} Hydrochloride 10 MG Oral Tablet"):
            result = named(text)
            assert entry.category in result.categories or (
                result.categories and SPECIAL_CATEGORIES.index(result.categories[0])
                < SPECIAL_CATEGORIES.index(entry.category)), (text, result.categories)
            wrapped += 1
    assert wrapped > 200


# --- compounds --------------------------------------------------------------------------------------------


def test_compounds_covered_by_name_or_class() -> None:
    apap_oxy = named("氨酚羟考酮片")
    assert apap_oxy.categories == ("psychotropic_2", ONLINE) and apap_oxy.is_compound
    assert set(apap_oxy.ingredients) == {"oxycodone", "paracetamol"}
    assert named("羟考酮纳洛酮缓释片").categories[0] == "psychotropic_1"
    assert named("氢可酮布洛芬片").categories[0] == "psychotropic_1"
    assert named("氨酚氢可酮片").categories[0] == "psychotropic_2"
    assert named("复方地芬诺酯片").categories[0] == "psychotropic_2"  # the compound, not narcotic
    assert named("地芬诺酯").categories == ("narcotic",)  # the substance itself
    assert named("丁丙诺啡纳洛酮舌下片").categories == ("psychotropic_2",)
    assert named("Buprenorphine 8 MG / Naloxone 2 MG Sublingual Tablet").categories == ("psychotropic_2",)
    assert named("氨酚曲马多片").categories == ("psychotropic_2", ONLINE)
    assert named("麦角胺咖啡因片").categories == ("psychotropic_2",)
    assert any("麦角胺" in n for n in named("麦角胺咖啡因片").notes)  # the precursor ingredient is shown
    assert named("安钠咖注射液").categories == ("psychotropic_2", ONLINE)
    assert named("吗啡阿托品注射液").categories == ("narcotic", ONLINE)
    assert named("复方樟脑酊").categories == ("narcotic", ONLINE)
    assert named("阿桔片").categories == ("narcotic", ONLINE)


def test_salts_and_isomers_of_one_substance_are_not_a_compound() -> None:
    adderall = rxnorm("Amphetamine Aspartate 2.5 MG / Amphetamine Sulfate 2.5 MG / "
                      "Dextroamphetamine Saccharate 2.5 MG / Dextroamphetamine Sulfate 2.5 MG Oral Tablet")
    assert adderall.categories == ("psychotropic_1",) and not adderall.is_compound
    # A hydrocodone oral liquid compound is not an oral solid: no psychotropic row covers it.
    tussionex = rxnorm("Hydrocodone Polistirex 10 MG/5 ML / Chlorpheniramine Polistirex 8 MG/5 ML "
                       "Extended Release Suspension")
    assert tussionex.categories == (ONLINE,) and flagged(tussionex, ONLINE, "hydrocodone")
    assert any("hydrocodone" in n for n in tussionex.notes)


def test_codeine_compounds_by_state() -> None:
    liquid = named("复方磷酸可待因口服溶液")
    assert liquid.categories == ("psychotropic_2", ONLINE)
    assert named("可愈糖浆").categories == ("psychotropic_2", ONLINE)
    # Oral solids containing codeine are not psychotropic: they fall under 含麻醉药品口服复方制剂.
    for name in ("氨酚待因片", "洛芬待因缓释片",
                 "Acetaminophen 300 MG / Codeine Phosphate 30 MG Oral Tablet"):
        result = named(name)
        assert result.categories == (ONLINE,), name
        assert flagged(result, ONLINE, "codeine"), name


def test_compound_liquorice_is_not_a_narcotic_but_shows_its_opium() -> None:
    result = named("复方甘草片")
    assert result.categories == (ONLINE,)
    assert "opium" in result.ingredients and result.is_compound
    assert flagged(result, ONLINE, "opium")
    assert any("含麻醉药品口服复方制剂" in f.via for f in result.flags)


def test_dextromethorphan_cold_remedies_are_not_psychotropic() -> None:
    fmmm = named("酚麻美敏片")
    assert fmmm.categories == (ONLINE,)  # 含麻黄碱类复方制剂, for its pseudoephedrine
    assert flagged(fmmm, ONLINE, "pseudoephedrine")
    assert {"dextromethorphan", "pseudoephedrine"} <= set(fmmm.ingredients)
    assert any("右美沙芬" in n and "dextromethorphan" in n for n in fmmm.notes)
    syrup = rxnorm("Acetaminophen 21.7 MG/ML / Dextromethorphan Hydrobromide 1 MG/ML / doxylamine succinate "
                   "0.417 MG/ML Oral Solution")
    assert syrup.categories == () and syrup.is_compound
    assert any("dextromethorphan" in n for n in syrup.notes)


def test_caffeine_in_a_compound_is_only_a_note() -> None:
    for name in ("氨咖黄敏胶囊", "酚咖片"):
        result = named(name)
        assert result.categories == () and result.is_compound, name
        assert any("咖啡因" in n for n in result.notes)


def test_ingredient_concepts_are_a_clue() -> None:
    only_ingredient = lists_only().classify(item(Concept(), [Concept((), "羟考酮")]))
    assert only_ingredient.categories == ("narcotic",)
    parts = [Concept((), "oxycodone"), Concept((), "acetaminophen")]
    compound = lists_only().classify(item(Concept((), "Percocet"), parts))
    assert compound.categories[0] == "psychotropic_1"  # strength unknown: the stricter class
    assert compound.is_compound
    atc_ingredient = lists_only().classify(item(Concept(), [Concept((Coding(ATC_SYSTEM, "N05CF02"),))]))
    assert atc_ingredient.categories == ("psychotropic_2",)


# --- the strictest clue wins -----------------------------------------------------------------------------

ORDINARY = {
    "code": "X0001", "name_zh": "右美沙芬片", "name_en": "Dextromethorphan Tablets", "generic_zh": "右美沙芬",
    "generic_en": "dextromethorphan", "atc": "R05DA09", "dosage_form": "片剂", "strength": "15mg",
    "ingredients_zh": "右美沙芬", "ingredients_en": "dextromethorphan",
}


def test_an_ordinary_formulary_entry_whose_ingredient_is_listed_is_flagged() -> None:
    [entry] = formulary(ORDINARY)
    classifier = Classifier([entry], special())
    result = classifier.classify(item(Concept((Coding(DRUG_SYSTEM, "X0001"),))))
    assert result.formulary_entry is entry and entry.special_category is None
    assert result.categories == ("psychotropic_2", ONLINE)
    assert all(f.list_entry is not None for f in result.flags)
    # Same for ephedrine written "precursor"-less, and oxycodone written as an ordinary tablet.
    rows = formulary(
        {**ORDINARY, "code": "X0002", "name_zh": "盐酸麻黄碱片", "name_en": "", "generic_zh": "麻黄碱",
         "generic_en": "ephedrine", "atc": "R01AA03", "ingredients_zh": "麻黄碱",
         "ingredients_en": "ephedrine"},
        {**ORDINARY, "code": "X0003", "name_zh": "盐酸羟考酮片", "name_en": "", "generic_zh": "羟考酮",
         "generic_en": "oxycodone", "atc": "N02AA05", "ingredients_zh": "羟考酮",
         "ingredients_en": "oxycodone", "special_category": "psychotropic_2"},
    )
    classifier = Classifier(rows, special())
    ephedrine = classifier.classify(item(Concept((Coding(DRUG_SYSTEM, "X0002"),))))
    assert ephedrine.categories == ("precursor_chemical",)
    # The formulary calls it psychotropic_2; the list says narcotic: the stricter reading is kept, the other
    # is noted, never both (one preparation is not in two of these lists).
    oxycodone = classifier.classify(item(Concept((Coding(DRUG_SYSTEM, "X0003"),))))
    assert oxycodone.categories == ("narcotic",)
    assert any("psychotropic_2" in n for n in oxycodone.notes)


def test_a_stricter_formulary_flag_wins() -> None:
    rows = formulary({**ORDINARY, "code": "X0004", "name_zh": "复方甘草片", "name_en": "",
                      "generic_zh": "复方甘草", "generic_en": "compound liquorice", "atc": "",
                      "ingredients_zh": "", "ingredients_en": "", "special_category": "narcotic"})
    result = Classifier(rows, special()).classify(item(Concept((Coding(DRUG_SYSTEM, "X0004"),))))
    assert result.categories == ("narcotic", ONLINE)
    assert any(f.category == "narcotic" and f.list_entry is None for f in result.flags)


def test_a_name_contradicting_the_catalogue_code_is_flagged_and_noted() -> None:
    rows = formulary({**ORDINARY, "code": "X0005", "name_zh": "苯磺酸氨氯地平片", "name_en": "",
                      "generic_zh": "氨氯地平", "generic_en": "amlodipine", "atc": "C08CA01",
                      "ingredients_zh": "氨氯地平", "ingredients_en": "amlodipine"})
    result = Classifier(rows, special()).classify(
        item(Concept((Coding(DRUG_SYSTEM, "X0005", "苯磺酸氨氯地平片"),), "盐酸羟考酮缓释片")))
    assert result.formulary_entry is not None and result.formulary_entry.code == "X0005"
    assert result.categories == ("narcotic",)
    assert any("X0005" in n and "盐酸羟考酮缓释片" in n for n in result.notes)


def test_a_name_is_not_another_names_salt_variant() -> None:
    """硝酸甘油 (nitroglycerin) strips to 甘油 (glycerol): the two stay apart, whichever the formulary lists first."""
    nitro = {**ORDINARY, "code": "X0006", "name_zh": "硝酸甘油片", "name_en": "", "generic_zh": "硝酸甘油",
             "generic_en": "nitroglycerin", "atc": "C01DA02", "ingredients_zh": "硝酸甘油",
             "ingredients_en": "nitroglycerin"}
    glycerol = {**ORDINARY, "code": "X0007", "name_zh": "甘油灌肠剂", "name_en": "", "generic_zh": "甘油",
                "generic_en": "glycerol", "atc": "A06AX01", "dosage_form": "灌肠剂", "ingredients_zh": "甘油",
                "ingredients_en": "glycerol"}
    for rows in (formulary(nitro, glycerol), formulary(glycerol, nitro)):
        classifier = Classifier(rows, special())
        assert named("甘油", classifier).ingredients == ("glycerol",)
        assert named("硝酸甘油", classifier).ingredients == ("nitroglycerin",)
        found = named("glycerol", classifier).formulary_entry
        assert found is not None and found.code == "X0007"


@needs_examples
def test_atc_codes() -> None:
    classifier = with_examples()
    # N02AA05 is two products of the formulary: without a form the item cannot say which, and it is oxycodone.
    alone = classifier.classify(item(Concept((Coding(ATC_SYSTEM, "N02AA05"),))))
    assert alone.formulary_entry is None and alone.categories == ("narcotic",)
    assert alone.unknown_reason is not None
    assert "D0101" in alone.unknown_reason and "D0230" in alone.unknown_reason
    injection = classifier.classify(item(Concept((Coding(ATC_SYSTEM, "n02aa05"),)), form="注射剂"))
    assert injection.formulary_entry is not None and injection.formulary_entry.code == "D0230"
    assert injection.matched_by == "ATC"
    assert classifier.classify(item(Concept((Coding(ATC_SYSTEM, "C08CA01"),)))).matched_by == "ATC"
    combination = classifier.classify(item(Concept((Coding(ATC_SYSTEM, "N02AJ17"),))))
    assert combination.categories == ("psychotropic_2", ONLINE)  # the formulary's 5 mg product
    # An ATC code of a listed substance that no formulary product has still flags the item.
    for atc, category in (("N05CD05", "psychotropic_1"), ("V09IX04", "radioactive")):
        assert lists_only().classify(item(Concept((Coding(ATC_SYSTEM, atc),)))).categories == (category,)


@needs_examples
def test_generic_names_find_a_product_only_when_form_and_strength_agree() -> None:
    classifier = with_examples()
    capsule = rxnorm("Amoxicillin 250 MG Oral Capsule", classifier)
    assert capsule.formulary_entry is not None and capsule.formulary_entry.code == "D0004"
    assert capsule.matched_by == "generic name"
    tablet = rxnorm("Amoxicillin 500 MG Oral Tablet", classifier)
    assert tablet.formulary_entry is None
    assert tablet.unknown_reason is not None and "D0004" in tablet.unknown_reason
    immediate = rxnorm("Oxycodone Hydrochloride 10 MG Oral Tablet", classifier)
    assert immediate.formulary_entry is None  # D0101 is prolonged-release, D0230 an injection
    assert immediate.categories == ("narcotic",)
    percocet = rxnorm("Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet", classifier)
    assert percocet.formulary_entry is not None and percocet.formulary_entry.code == "D0102"


# --- unknown drugs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("drug", [
    Concept((), "某某神药胶囊"),
    Concept((Coding(DRUG_SYSTEM, "D9999"),)),
    Concept((Coding(RXNORM_SYSTEM, "1049621"),)),
    Concept(),
    Concept((Coding(None, None, None),), "   "),
])
def test_a_drug_no_clue_resolves_has_a_reason(drug: Concept) -> None:
    for classifier in (lists_only(), *((with_examples(),) if EXAMPLE_FORMULARY.is_file() else ())):
        result = classifier.classify(item(drug))
        assert result.formulary_entry is None and result.matched_by is None
        assert result.unknown_reason and " / " in result.unknown_reason  # Chinese / English
        assert result.categories == ()
    unknown_code = lists_only().classify(item(Concept((Coding(DRUG_SYSTEM, "D9999"),))))
    assert "D9999" in (unknown_code.unknown_reason or "")


# --- near misses ------------------------------------------------------------------------------------------

# Real drugs whose names share characters or stems with listed ones, none of them controlled.
NEAR_MISSES: list[tuple[str, str]] = [
    ("纳洛酮", "纳布啡"), ("naloxone", "nalbuphine"), ("naltrexone", "nalbuphine"),
    ("曲美他嗪", "曲马多"), ("trimetazidine", "tramadol"), ("trandolapril", "tramadol"),
    ("美沙拉秦", "美沙酮"), ("mesalazine", "methadone"), ("methyldopa", "methadone"),
    ("吗替麦考酚酯", "吗啡"), ("吗氯贝胺", "吗啡"), ("mycophenolate mofetil", "morphine"),
    ("氯雷他定", "氯胺酮"), ("loratadine", "lorazepam"), ("ketorolac", "ketamine"),
    ("芬必得", "芬太尼"), ("fenofibrate", "fentanyl"),
    ("丁螺环酮", "丁丙诺啡"), ("buspirone", "buprenorphine"),
    ("右美托咪定", "右美沙芬"), ("dexmedetomidine", "dextromethorphan"),
    ("氢化可的松", "氢可酮"), ("hydrocortisone", "hydrocodone"), ("hydroxyzine", "hydromorphone"),
    ("氯硝柳胺", "氯硝西泮"), ("clonidine", "clonazepam"),
    ("地塞米松", "地西泮"), ("diltiazem", "diazepam"),
    ("咪唑斯汀", "咪达唑仑"), ("唑来膦酸", "唑吡坦"), ("佐米曲普坦", "佐匹克隆"),
    ("艾司奥美拉唑", "艾司唑仑"), ("esomeprazole", "estazolam"), ("奥沙利铂", "奥沙西泮"),
    ("阿托伐他汀", "阿托品"), ("甲钴胺", "甲基苯丙胺"), ("苯海拉明", "苯丙胺"),
    ("oxybutynin", "oxycodone"), ("oxymetazoline", "oxymorphone"), ("methylprednisolone", "methylphenidate"),
    ("phentolamine", "phentermine"), ("trazodone", "triazolam"), ("epinephrine", "ephedrine"),
    ("去甲肾上腺素", "去甲麻黄碱"), ("火麻仁", "大麻"), ("麻仁润肠丸", "大麻"), ("制川乌", "生川乌"),
    ("法半夏", "生半夏"), ("丁溴东莨菪碱", "氢溴酸东莨菪碱"), ("scopolamine butylbromide", "scopolamine"),
    ("左氧氟沙星", "左啡诺"), ("levothyroxine", "levorphanol"), ("右旋糖酐", "右苯丙胺"),
    ("复方氨酚烷胺片", "氨酚待因片"),
]


@pytest.mark.parametrize(("name", "looks_like"), NEAR_MISSES)
def test_near_misses_do_not_match(name: str, looks_like: str) -> None:
    result = named(name)
    assert not set(result.categories) & CONTROLLED, (name, looks_like, result.flags)
    assert looks_like not in result.ingredients
    if EXAMPLE_FORMULARY.is_file():
        assert not set(named(name, with_examples()).categories) & CONTROLLED


def test_the_near_miss_list_is_long_enough_and_real() -> None:
    assert len(NEAR_MISSES) >= 25
    # Every "looks like" name on the Chinese side is itself controlled, so each pair is a real near miss.
    for _, looks_like in NEAR_MISSES:
        if looks_like in ("复方氨酚烷胺片",):
            continue
        assert set(named(looks_like).categories) & (CONTROLLED | {ONLINE}), looks_like


# --- invariants and robustness ----------------------------------------------------------------------------


def check_invariants(result: DrugClassification) -> None:
    assert list(result.categories) == sorted(result.categories, key=SPECIAL_CATEGORIES.index)
    assert set(result.categories) == {f.category for f in result.flags}
    assert len(set(result.categories) & {"narcotic", "psychotropic_1", "psychotropic_2"}) <= 1
    for flag in result.flags:
        assert flag.rule_id == RULE_FOR_CATEGORY[flag.category]
        assert " / " in flag.via
        assert flag.list_entry is None or flag.list_entry.category == flag.category
    assert (result.formulary_entry is None) == (result.unknown_reason is not None)
    assert (result.formulary_entry is None) == (result.matched_by is None)


ALL_NAMES = [n for n, _ in NAMES] + [n for n, _ in NEAR_MISSES] + sorted(SYNTHEA_EXPECTED)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_invariants_hold(name: str) -> None:
    check_invariants(named(name))


SYSTEMS = st.sampled_from([DRUG_SYSTEM, ATC_SYSTEM, RXNORM_SYSTEM, None, "http://example.org/x"])
TEXT = st.one_of(st.none(), st.text(max_size=60), st.sampled_from([
    "盐酸羟考酮缓释片", "Oxycodone 5 MG / Acetaminophen", "复方", "片", "/", "5mg/325mg", "[131I]",
    "（）", "右", "es", "and", "D0101", "N02AA05", "ＯＸＹ", "1e999 MG", "0 MG/0 ML", "9" * 40 + " mg",
]))
CODINGS = st.builds(Coding, SYSTEMS, TEXT, TEXT)
CONCEPTS = st.builds(Concept, st.lists(CODINGS, max_size=3).map(tuple), TEXT)


@given(drug=CONCEPTS, ingredients=st.lists(CONCEPTS, max_size=3), form=TEXT)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_classify_never_raises(drug: Concept, ingredients: list[Concept], form: str | None) -> None:
    classifier = with_examples() if EXAMPLE_FORMULARY.is_file() else lists_only()
    result = classifier.classify(item(drug, ingredients, form))
    check_invariants(result)
    assert classifier.classify(item(drug, ingredients, form)) == result


@given(st.text(min_size=1, max_size=400))
@settings(max_examples=300, deadline=None)
def test_arbitrary_names_never_raise(text: str) -> None:
    check_invariants(named(text))


def test_a_pathologically_long_name_is_cut_not_choked_on() -> None:
    """Only the first few hundred characters are read; a name that is no drug fails closed (unknown)."""
    result = named("盐酸羟考酮" * 20_000 + "片")
    check_invariants(result)
    assert result.unknown_reason is not None and len(result.unknown_reason) < 2_000
    assert named("氨氯地平" * 20_000 + "盐酸羟考酮片") == named("氨氯地平" * 20_000)


def test_a_list_without_some_rows_still_classifies() -> None:
    """A pharmacy may load a newer or shorter list: the classes it lacks are simply not applied."""
    data = read_resource("regulatory", "special_drugs.csv").decode("utf-8")
    kept = [line for line in data.splitlines()
            if "含麻醉药品口服复方制剂" not in line and "复方甘草片" not in line]
    smaller = parse_special_drugs_csv(("\n".join(kept) + "\n").encode("utf-8"), "test")
    result = Classifier((), smaller).classify(item(Concept((), "复方甘草片")))
    assert result.categories == ()
    assert named("复方甘草片").categories == (ONLINE,)


# --- repeat look-ups ----------------------------------------------------------------------------------
# (How fast classification is, is measured in tests/perf/bench_rules.py, never in a timed test.)


@needs_examples
def test_a_repeated_drug_is_answered_from_the_cache_with_the_same_verdict() -> None:
    classifier = Classifier(example_formulary(), special())
    items = [item(Concept((Coding(DRUG_SYSTEM, e.code, e.name_zh), Coding(ATC_SYSTEM, e.atc or "")),
                          e.name_zh)) for e in example_formulary()]
    first = [classifier.classify(it) for it in items]
    again = [classifier.classify(it) for it in items]
    assert all(a is b for a, b in zip(first, again, strict=True))  # served from the cache, not recomputed
    fresh = Classifier(example_formulary(), special())
    assert [fresh.classify(it) for it in items] == first  # and the cache changes no verdict


def test_strength_and_amount_parsing_details() -> None:
    # 0.005 g is 5 mg: converted before the threshold.
    grams = rxnorm("Hydrocodone Bitartrate 0.005 G / Acetaminophen 325 MG Oral Tablet")
    assert grams.categories[0] == "psychotropic_2"
    # A concentration is not a per-unit strength: the oral-solid threshold rows do not apply to a solution.
    solution = rxnorm("Hydrocodone Bitartrate 0.5 MG/ML / Acetaminophen 21.7 MG/ML Oral Solution")
    assert not {"psychotropic_1", "psychotropic_2"} & set(solution.categories)
    assert solution.categories == (ONLINE,)
    assert Decimal(5) == Decimal("5.0")  # strengths compare as numbers (sanity for the formulary match)


# --- lists a pharmacy loads -------------------------------------------------------------------------------

ODD_ROWS = [
    ("narcotic", "含复方制剂", "", "", ""),
    ("narcotic", "复方", "compound", "", ""),
    ("narcotic", "片", "tablet", "", ""),
    ("psychotropic_1", "", "foo (bar)", "", "foo"),
    ("psychotropic_2", "某某", "", "", " ; ;x"),
    ("toxic", "（）", "()", "", ""),
    ("radioactive", "含放射性药品口服复方制剂", "x (class)", "", ""),
    ("precursor_chemical", "甲和乙和丙", "a and b", "", ""),
    ("online_sale_prohibited", "注射剂（胰岛素除外）", "(class)", "", ""),
    ("online_sale_prohibited", "含某某类复方制剂", "(class)", "", ""),
    ("online_sale_prohibited", "含羟考酮复方口服固体制剂（每剂量单位含羟考酮碱≤5mg）", "", "N02AA55",
     "oxycodone"),
    ("narcotic", "羟考酮", "oxycodone", "N02AA05", "oxycodone"),
]


def odd_list() -> SpecialDrugList:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["category", "name_zh", "name_en", "atc_code", "rxnorm_ingredient", "notes", "source"])
    for row in ODD_ROWS:
        writer.writerow([*row, "", "test"])
    return parse_special_drugs_csv(out.getvalue().encode(), "odd")


def test_odd_rows_of_a_loaded_list_do_not_break_the_classifier() -> None:
    classifier = Classifier(example_formulary() if EXAMPLE_FORMULARY.is_file() else (), odd_list())
    for name in ("片", "复方", "某某片", "foo", "甲", "盐酸羟考酮缓释片", "胰岛素注射液", "",
                 "Oxycodone 4 MG / Acetaminophen 325 MG Oral Tablet", "Sodium Chloride Injection"):
        check_invariants(classifier.classify(item(Concept((), name))))
    assert named("盐酸羟考酮片", classifier).categories == ("narcotic",)
    low = named("Oxycodone 4 MG / Acetaminophen 325 MG Oral Tablet", classifier)
    assert low.categories == (ONLINE,)  # the threshold row of this list, with "≤"
    assert named("胰岛素注射液", classifier).categories == ()
    assert named("Sodium Chloride Injection", classifier).categories == (ONLINE,)


@given(st.sets(st.integers(min_value=0, max_value=270), max_size=120))
@settings(max_examples=25, deadline=None)
def test_any_part_of_the_packaged_list_builds_and_classifies(dropped: set[int]) -> None:
    lines = read_resource("regulatory", "special_drugs.csv").decode("utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    kept = [row for i, row in enumerate(rows) if i not in dropped]
    try:
        smaller = parse_special_drugs_csv(("\n".join([header, *kept]) + "\n").encode("utf-8"), "subset")
    except SpecialDrugListError:  # a subset lacking a whole category is refused by the parser, rightly
        return
    classifier = Classifier((), smaller)
    for name in ("盐酸羟考酮缓释片", "氨酚羟考酮片", "复方甘草片", "酚麻美敏片", "艾司氯胺酮",
                 "Fentanyl 25 MCG/HR Transdermal System"):
        check_invariants(classifier.classify(item(Concept((), name))))
