"""Each room of the classification package on its own: names and salts, strengths and forms, reading one
clue, the list rules, and judging a reading against them (the whole is tested in test_classification)."""

from __future__ import annotations

from decimal import Decimal

from workstation.domain.classification.judging import Hit, Judge
from workstation.domain.classification.lists import ListRules, register_list_names
from workstation.domain.classification.names import Isomers, Lexicon, fold, zh_key, zh_salt_variants
from workstation.domain.classification.reading import NameReader
from workstation.domain.classification.strengths import INJ, OS, amounts_in, combine_forms, fs
from workstation.domain.special_drugs import SpecialDrugList, parse_special_drugs_csv

LIST = """category,name_zh,name_en,atc_code,rxnorm_ingredient
narcotic,羟考酮,oxycodone,N02AA05,oxycodone
narcotic,美沙酮,methadone,N07BC02,methadone
psychotropic_1,苯丙胺,amfetamine,N06BA01,amphetamine
psychotropic_2,氨酚羟考酮片,oxycodone 5 mg / acetaminophen 325 mg tablet,N02AJ17,oxycodone; acetaminophen
toxic,砒霜,arsenic trioxide (crude),,
radioactive,高锝[99mTc]酸钠注射液,sodium pertechnetate (99mTc),V09FX01,sodium pertechnetate Tc-99m
precursor_chemical,麦角胺,ergotamine,N02CA02,ergotamine
online_sale_prohibited,复方甘草片,compound liquorice tablets (contain 阿片粉/opium powder),,opium; glycyrrhiza
"""  # every category must be present, or the list is refused as truncated


def _special() -> SpecialDrugList:
    return parse_special_drugs_csv(LIST.encode("utf-8"), "test")


def _lexicon(*extra: tuple[str, str]) -> Lexicon:
    lex = Lexicon()
    register_list_names(lex, _special())
    for en, zh in extra:
        lex.add((en,), (zh,), priority=3, trusted=False)
    lex.freeze({})
    return lex


def _rooms() -> tuple[Lexicon, NameReader, ListRules]:
    lex = _lexicon(("levomethadone", "左美沙酮"), ("acetaminophen", "对乙酰氨基酚"))
    reader = NameReader(lex)
    return lex, reader, ListRules(_special(), lex, reader)


# --- names and salts


def test_salt_words_are_folded_away_in_both_languages() -> None:
    assert zh_key(fold("盐酸 羟考酮")) == "盐酸羟考酮"
    assert "羟考酮" in zh_salt_variants("盐酸羟考酮")
    lex = _lexicon()
    sid = lex.lookup_en("oxycodone")
    assert sid is not None
    assert lex.lookup_en("Oxycodone Hydrochloride") == lex.lookup_zh("羟考酮") == sid
    assert lex.bilingual(sid) == ("羟考酮 (oxycodone)", "oxycodone")


def test_an_unlisted_isomer_is_found_only_once_its_parent_is_listed() -> None:
    lex = _lexicon(("levomethadone", "左美沙酮"))
    methadone, levo = lex.lookup_en("methadone"), lex.lookup_en("levomethadone")
    assert methadone is not None and levo is not None and levo != methadone
    assert Isomers.find(lex, set()).isomer_of == {}
    found = Isomers.find(lex, {methadone})
    assert found.isomer_of[levo] == methadone
    assert found.parent_en(["l", "methadone"]) == methadone
    assert found.parent_zh("左美沙酮") == methadone


# --- strengths and forms


def test_strengths_are_read_in_mg_per_unit_whatever_the_spelling() -> None:
    assert amounts_in(fold("10mg")) == amounts_in(fold("10 milligrams")) == [(Decimal(10), "mg")]
    assert amounts_in(fold("5 micrograms/hour")) == [(Decimal("0.005"), "mg/hr")]
    assert combine_forms([fs(OS), fs(OS, INJ)]) == fs(OS)


# --- reading one clue


def test_a_product_name_is_read_into_ingredient_form_release_and_strength() -> None:
    lex, reader, _ = _rooms()
    reading = reader.parse_name("盐酸羟考酮缓释片 10mg")
    [ingredient] = reading.ingredients
    assert ingredient.sid == lex.lookup_en("oxycodone") and not reading.compound
    assert reading.forms == fs(OS) and reading.release == "modified"
    assert (Decimal(10), "mg") in reading.strengths


def test_names_read_after_the_list_rules_know_their_isomers() -> None:
    lex, reader, _ = _rooms()
    [levo] = reader.parse_name("levomethadone").ingredients
    assert levo.listed == lex.lookup_en("methadone") and levo.relation == "isomer"


# --- the list rules, and judging a reading against them


def test_rows_become_substance_and_named_preparation_rules() -> None:
    lex, _, rules = _rooms()
    oxycodone = lex.lookup_en("oxycodone")
    assert oxycodone is not None
    assert [r.entry.category for r in rules.substance_rules[oxycodone]] == ["narcotic"]
    assert "N02AA05" in rules.atc_of[oxycodone]
    named = {rule.entry.name_zh for rules_ in rules.named_by_key.values() for rule in rules_}
    assert "氨酚羟考酮片" in named and "羟考酮" not in named


def test_a_reading_is_judged_with_its_evidence() -> None:
    _, reader, rules = _rooms()
    judge = Judge(rules)
    hits: list[Hit] = []
    notes: list[str] = []
    reading = reader.parse_name("盐酸羟考酮片")
    judge.evaluate(reading, reading.forms, {}, hits, notes)
    flags, _ = judge.flags(hits)
    assert [f.category for f in flags] == ["narcotic"]
    assert "羟考酮" in flags[0].via and flags[0].list_entry is not None

    hits.clear()
    compound = reader.parse_name("氨酚羟考酮片")
    judge.evaluate(compound, compound.forms, {}, hits, notes)
    assert [f.category for f in judge.flags(hits)[0]] == ["psychotropic_2"]
