"""List rules: the rows of the regulatory special-drug lists, interpreted into rules a reading is
judged against (substances, named preparations, classes with thresholds, groups)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from workstation.domain.classification.names import (
    PAREN_CONTENT,
    ZH_KEEP,
    Isomers,
    Lexicon,
    compact_nuclides,
    fold,
    has_cjk,
    strip_paren,
    words_of,
    zh_key,
)
from workstation.domain.classification.reading import NameReader
from workstation.domain.classification.strengths import (
    EN_FORM_WORDS,
    INJ,
    RAW,
    ZH_BASE_BY_LENGTH,
    ZH_BASE_FORMS,
    ZH_MODIFIERS_BY_LENGTH,
    Forms,
    decimal_of,
    fs,
)
from workstation.domain.special_drugs import (
    CATEGORY_NAME_ZH,
    SpecialDrugEntry,
    SpecialDrugList,
    split_list_cell,
)


# The categories whose substances carry their salts and isomers (the 2022 online-sale ban list names single
# generic names, and a radioactive product is defined by its nuclide, so neither is widened by isomers).
ISOMER_CATEGORIES: Final = frozenset({
    "narcotic", "psychotropic_1", "psychotropic_2", "toxic", "precursor_chemical",
})
CONTROLLED: Final = ISOMER_CATEGORIES | {"radioactive"}

_THRESHOLD: Final = re.compile(r"(>=|<=|≥|≤|>|<)\s*(\d+(?:\.\d+)?)\s*mg")
_EXCEPT_MARKETED: Final = re.compile(r"EXCEPT\b.*approved for marketing", re.IGNORECASE)

# Class rows of the online-sale ban list that no name pattern expresses: the ATC groups and name endings they
# cover, and ATC groups excluded ("胰岛素除外"). Keyed by the row's Chinese name without its parentheses, so a
# renamed row falls back to matching by name only.
_Group = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_GROUP_CLASSES: Final[Mapping[str, _Group]] = {
    # name: (ATC prefixes, Chinese name endings, English words, excluded ATC prefixes)
    "疫苗": (("J07",), ("疫苗",), ("vaccine",), ()),
    "血液制品": (
        ("B05AA", "B02BD", "J06B"),
        ("人血白蛋白", "免疫球蛋白", "凝血因子", "纤维蛋白原", "凝血酶原复合物"),
        ("immunoglobulin", "globulin"),
        (),
    ),
    "中药配方颗粒": ((), ("配方颗粒",), (), ()),
    "《兴奋剂目录》所列蛋白同化制剂和肽类激素": (
        ("A14", "G03B", "H01AC", "G03GA", "B03XA"), (), (), ("A10A",),
    ),
}
# What "(… 除外)" excludes, as ATC groups.
_EXCLUSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "降糖类药物": ("A10",), "降糖类": ("A10",), "胰岛素": ("A10A",),
}


@dataclass(frozen=True, slots=True)
class SubstanceRule:
    entry: SpecialDrugEntry
    forms: Forms | None  # for some forms only (丁丙诺啡透皮贴剂, 咪达唑仑原料药及注射剂); None = any
    raw_only: bool  # only the raw material is listed (western toxic list, "EXCEPT marketed preparations")
    topical_exempt: bool  # online-sale ban of an antimicrobial: topical forms are not banned


@dataclass(frozen=True, slots=True)
class NamedRule:
    entry: SpecialDrugEntry
    keys: frozenset[tuple[str, bool]]  # Chinese core names (with the compound flag) of the preparation
    forms: Forms | None
    sids: frozenset[int] | None  # its ingredients, when all are known
    amounts: Mapping[int, Decimal]  # per-unit strengths the row states
    controlled: tuple[int, ...]  # its ingredients that are on a list themselves
    stated: tuple[int, ...]  # the ingredients its rxnorm column states (复方甘草片: opium, glycyrrhiza)


@dataclass(frozen=True, slots=True)
class _ClassRule:
    entry: SpecialDrugEntry
    single: bool  # 单方 (single-ingredient) class; else a compound class
    substances: frozenset[int]  # all must be ingredients
    member_category: str | None  # 含麻醉药品…: any ingredient on this category's list
    family: frozenset[int]  # 含麻黄碱类…: any of these
    oral: bool
    state: str | None  # "solid", "liquid" or None
    op: str | None  # threshold on the listed substance, per dose unit
    limit_mg: Decimal | None


@dataclass(frozen=True, slots=True)
class _GroupRule:
    entry: SpecialDrugEntry
    forms: Forms | None  # a dosage-form class (注射剂)
    atc_prefixes: tuple[str, ...]
    name_endings: tuple[str, ...]
    en_words: tuple[str, ...]
    excluded_atc: tuple[str, ...]


class ListRules:
    """The rows of the special-drug lists, interpreted into rules, and the isomers of listed substances."""

    def __init__(self, special: SpecialDrugList, lex: Lexicon, reader: NameReader) -> None:
        """Interpret every row; the lexicon already holds the rows' names (:func:`register_list_names`)."""
        self.special = special
        self.lex = lex
        self.reader = reader
        self.substance_rules: dict[int, list[SubstanceRule]] = {}
        self.named_by_key: dict[tuple[str, bool], list[NamedRule]] = {}
        self.named_by_set: dict[frozenset[int], list[NamedRule]] = {}
        self.class_rules: list[_ClassRule] = []
        self.group_rules: list[_GroupRule] = []
        self.named_name_rules: dict[str, list[SpecialDrugEntry]] = {}
        self.atc_of: dict[int, set[str]] = {}  # a substance → the ATC codes the lists (and formulary) give it
        kinds = [(entry, self.row_kind(entry)) for entry in special.entries]
        for entry, kind in kinds:
            if entry.atc_code and kind in ("substance", "form", "all"):
                for sid in self.row_sids(entry):
                    self.atc_of.setdefault(sid, set()).add(entry.atc_code)
        # Substances first: a named preparation's controlled ingredients are known once every substance is.
        order = {"substance": 0, "form": 0, "all": 0, "named": 1}
        for entry, kind in sorted(kinds, key=lambda k: order.get(k[1], 2)):
            self.interpret_row(entry, kind)
        listed = {sid for sid, rules in self.substance_rules.items()
                  if any(r.entry.category in ISOMER_CATEGORIES for r in rules)}
        reader.learn_isomers(Isomers.find(lex, listed))

    @staticmethod
    def row_kind(entry: SpecialDrugEntry) -> str:
        """How a row is read: "substance", "form" (a substance in some forms), "named", "class" or "all"."""
        zh = unicodedata.normalize("NFKC", entry.name_zh).strip()
        main = strip_paren(zh)
        en = fold(entry.name_en)
        if main.endswith("及其制剂"):
            return "all"
        if "制剂" in main or "整类" in zh or en.endswith("(class)"):
            return "class"
        rxnorm = entry.rxnorm_ingredients()
        alternatives = split_list_cell(main)
        en_main = strip_paren(en)
        compound_en = bool(re.search(r"\s(and|/)\s", en_main)) and "和" not in main
        if len(rxnorm) > 1 or len(alternatives) > 1 or compound_en or main.startswith("复方"):
            return "named"
        key = zh_key(fold(main))
        for base in ZH_BASE_BY_LENGTH:
            if key.endswith(base) and len(key) - len(base) >= 2:
                return "form"
        if fold(main).endswith(("原料药及注射剂",)):
            return "form"
        return "substance"

    @staticmethod
    def _row_substance_names(entry: SpecialDrugEntry, kind: str) -> tuple[list[str], list[str]]:
        """(Chinese names, English names) of a substance row: main names, alternates in parentheses."""
        zh_full = unicodedata.normalize("NFKC", entry.name_zh).strip()
        zh_main = strip_paren(zh_full).strip()
        if kind == "all":
            zh_main = zh_main[: -len("及其制剂")]
        zh_names: list[str] = []
        en_extra: list[str] = []
        for part in re.split(r"和", zh_main) if "和" in zh_main else [zh_main]:
            if part:
                zh_names.append(part)
        for content in PAREN_CONTENT.findall(zh_full):
            for alt in re.split(r"[、,，/]", content):
                alt = alt.strip()
                if not alt or re.search(r"\d|含|每|如|不|整类|除外", alt):
                    continue
                (zh_names if has_cjk(alt) else en_extra).append(alt)
        if kind == "form":
            # "碘[131I]化钠口服溶液/胶囊": the substance is the first alternative without its form.
            zh_names = [ListRules._strip_zh_form_word(n.split("/")[0]) for n in zh_names]
        en_full = fold(entry.name_en)
        # Isotopes in parentheses are part of the name: "sodium iodide (131I)" is not sodium iodide.
        en_full = compact_nuclides(en_full)
        en_main = strip_paren(en_full).strip()
        en_names = [p.strip() for p in re.split(r"\s+and\s+", en_main)] if "和" in zh_main else [en_main]
        if kind == "form":
            en_names = [" ".join(w for w in n.split() if w not in EN_FORM_WORDS) for n in en_names]
        for content in PAREN_CONTENT.findall(en_full):
            words = words_of(content)
            if words and not any(w in EN_FORM_WORDS or w in {"and", "other", "forms", "single", "ingredient",
                                                             "crude", "class", "e", "g", "contain", "unit"}
                                 for w in words) and not re.search(r"\d", content) and not has_cjk(content):
                en_extra.append(content)
        return zh_names, [n for n in (*en_names, *en_extra) if n]

    @staticmethod
    def _strip_zh_form_word(name: str) -> str:
        key = ZH_KEEP.sub("", unicodedata.normalize("NFKC", name))  # case kept: it is also shown
        if key.endswith("原料药及注射剂"):
            return key[: -len("原料药及注射剂")]
        for base in ZH_BASE_BY_LENGTH:
            if key.endswith(base) and len(key) - len(base) >= 2:
                core = key[: -len(base)]
                for modifier in ZH_MODIFIERS_BY_LENGTH:
                    if core.endswith(modifier) and len(core) - len(modifier) >= 2:
                        core = core[: -len(modifier)]
                        break
                return core
        return key

    def row_sids(self, entry: SpecialDrugEntry) -> list[int]:
        sids: list[int] = []
        zh_names, en_names = self._row_substance_names(entry, self.row_kind(entry))
        for name in (*entry.rxnorm_ingredients(), *en_names):
            sid = self.lex.lookup_en(name)
            if sid is not None and sid not in sids:
                sids.append(sid)
        for name in zh_names:
            sid = self.lex.lookup_zh(name)
            if sid is not None and sid not in sids:
                sids.append(sid)
        return sids

    def interpret_row(self, entry: SpecialDrugEntry, kind: str) -> None:
        if kind in ("substance", "form", "all"):
            self._interpret_substance_row(entry, kind)
        elif kind == "named":
            self._interpret_named_row(entry)
        else:
            self._interpret_class_row(entry)

    def _interpret_substance_row(self, entry: SpecialDrugEntry, kind: str) -> None:
        forms: Forms | None = None
        if kind == "form":
            key = zh_key(fold(strip_paren(entry.name_zh)))
            if key.endswith("原料药及注射剂"):
                forms = fs(RAW, INJ)
            else:
                found: list[Forms] = []
                for alternative in unicodedata.normalize("NFKC", strip_paren(entry.name_zh)).split("/"):
                    bare = zh_key(fold(alternative))
                    if bare in ZH_BASE_FORMS:  # "…口服溶液/胶囊": another form of the same substance
                        found.append(ZH_BASE_FORMS[bare])
                        continue
                    reading = self.reader.parse_zh(alternative, fold(alternative))
                    if reading.forms:
                        found.append(reading.forms)
                forms = frozenset.union(*found) if found else None
        # The western toxic list means raw materials (the preparations it names have their own rows); so does
        # a row excepting the preparations approved for marketing (依托咪酯).
        excepted = _EXCEPT_MARKETED.search(entry.notes) is not None
        raw_only = kind == "substance" and (entry.category == "toxic" or excepted)
        antimicrobial = (entry.atc_code or "").startswith(("J", "P01AB")) or entry.name_zh.endswith(
            ("沙星", "硝唑", "康唑", "培南")) or entry.name_zh.startswith("头孢")
        topical_exempt = (entry.category == "online_sale_prohibited" and antimicrobial
                          and "exclude topical" in entry.notes)
        rule = SubstanceRule(entry, forms, raw_only, topical_exempt)
        for sid in self.row_sids(entry):
            self.substance_rules.setdefault(sid, []).append(rule)

    def _interpret_named_row(self, entry: SpecialDrugEntry) -> None:
        """One rule per preparation the row names ("复方樟脑酊；阿桔片" names two), each with its forms."""
        stated: list[int] = []
        all_known = True
        for name in entry.rxnorm_ingredients():
            sid = self.lex.lookup_en(name)
            if sid is None:
                all_known = False
            elif sid not in stated:
                stated.append(sid)
        row_compound = (len(entry.rxnorm_ingredients()) > 1
                        or re.search(r"\s(and|/)\s", fold(entry.name_en)) is not None)
        alternatives = split_list_cell(strip_paren(unicodedata.normalize("NFKC", entry.name_zh)))
        en_reading = self.reader.parse_en(entry.name_en, fold(entry.name_en))
        amounts: dict[int, Decimal] = {}
        if len(alternatives) == 1:  # the English name states strengths for one preparation only
            for ingredient in en_reading.ingredients:
                if ingredient.sid is not None and ingredient.amount_mg is not None:
                    amounts[ingredient.sid] = ingredient.amount_mg
        for alternative in alternatives:
            keys: set[str] = set()
            forms_found: list[Forms] = []
            sids: set[int] = set(stated)
            compound = row_compound
            for part in alternative.split("/"):
                bare = zh_key(fold(part))
                if keys and bare in ZH_BASE_FORMS:  # "…溶液/糖浆": another form of the same preparation
                    forms_found.append(ZH_BASE_FORMS[bare])
                    continue
                reading = self.reader.parse_zh(part, fold(part))
                if reading.core_key is None:
                    continue
                if reading.forms:
                    forms_found.append(reading.forms)
                compound = compound or reading.compound or len(reading.ingredients) > 1
                sids.update(i.sid for i in reading.ingredients if i.sid is not None)
                keys.add(reading.core_key[0])
            if not keys:
                continue
            # The Chinese name says the form; the English one only when the Chinese does not.
            if not forms_found and en_reading.forms:
                forms_found.append(en_reading.forms)
            forms = frozenset.union(*forms_found) if forms_found else None
            controlled = tuple(s for s in sorted(sids) if self.is_controlled(s))
            rule = NamedRule(entry, frozenset((k, compound) for k in keys), forms,
                             frozenset(sids) if all_known and sids else None, amounts, controlled,
                             tuple(stated))
            for key in rule.keys:
                self.named_by_key.setdefault(key, []).append(rule)
            if rule.sids is not None and len(rule.sids) >= 2:
                self.named_by_set.setdefault(rule.sids, []).append(rule)

    def _interpret_class_row(self, entry: SpecialDrugEntry) -> None:
        zh = unicodedata.normalize("NFKC", entry.name_zh).strip()
        main = strip_paren(zh).strip()
        threshold = _THRESHOLD.search(zh)
        group = _GROUP_CLASSES.get(main)
        if group is not None:
            self.group_rules.append(_GroupRule(entry, None, *group))
            return
        base = zh_key(fold(main))
        if base in ZH_BASE_FORMS:  # 注射剂（降糖类药物除外）: a dosage-form class
            excluded: list[str] = []
            for content in PAREN_CONTENT.findall(zh):
                for word, prefixes in _EXCLUSIONS.items():
                    if word in content and "除外" in content:
                        excluded.extend(prefixes)
            self.group_rules.append(_GroupRule(entry, ZH_BASE_FORMS[base], (), (), (), tuple(excluded)))
            return
        if not main.endswith("制剂") or not ("复方" in main or "单方" in main):
            self.named_name_rules.setdefault(zh_key(fold(main)), []).append(entry)
            return
        body = main[: -len("制剂")]
        body = body.removeprefix("含")
        marks = [i for i in (body.find(m) for m in ("复方", "单方", "口服", "类")) if i > 0]
        subject = body[: min(marks)] if marks else body
        family_class = body[len(subject):].startswith("类")
        category = {name: cat for cat, name in CATEGORY_NAME_ZH.items()}.get(subject)
        substances: set[int] = set()
        family: set[int] = set()
        if category is None and family_class:
            # 麻黄碱类: every listed substance whose Chinese name ends with 麻黄碱 (伪麻黄碱, 甲基麻黄碱…).
            for other in self.special.entries:
                if self.row_kind(other) == "substance" and strip_paren(other.name_zh).endswith(subject):
                    family.update(self.row_sids(other))
            if not family:
                self.named_name_rules.setdefault(zh_key(fold(main)), []).append(entry)
                return
        elif category is None:
            for part in subject.split("和"):
                sid = self.reader.single_sid(part)
                if sid is None:
                    rx = entry.rxnorm_ingredients()
                    sid = self.lex.lookup_en(rx[0]) if len(rx) == 1 and "和" not in subject else None
                if sid is None:
                    # A class naming something we cannot resolve matches its own name only.
                    self.named_name_rules.setdefault(zh_key(fold(main)), []).append(entry)
                    return
                substances.add(sid)
        state = "solid" if "固体" in body else "liquid" if "液体" in body else None
        self.class_rules.append(_ClassRule(
            entry=entry,
            single="单方" in body,
            substances=frozenset(substances),
            member_category=category,
            family=frozenset(family),
            oral="口服" in body,
            state=state,
            op=threshold.group(1) if threshold else None,
            limit_mg=decimal_of(threshold.group(2)) if threshold else None,
        ))

    def is_controlled(self, sid: int) -> bool:
        return any(r.entry.category in CONTROLLED for r in self.substance_rules.get(sid, ()))


def register_list_names(lex: Lexicon, special: SpecialDrugList) -> None:
    """Every substance name the lists' rows give, into the lexicon (before it is frozen)."""
    for entry in special.entries:
        kind = ListRules.row_kind(entry)
        rxnorm = entry.rxnorm_ingredients()
        if kind in ("named", "class"):
            # Ingredient names the row spells (acetaminophen, naloxone…): known as substances from now on.
            for name in rxnorm:
                lex.add((name,), (), priority=2, trusted=True)
            continue
        zh_names, en_names = ListRules._row_substance_names(entry, kind)
        if "和" in strip_paren(entry.name_zh) and len(zh_names) > 1:
            # 大麻和大麻树脂 / cannabis and cannabis resin: two substances, one row.
            for zh, en in zip(zh_names, en_names):
                lex.add((en,), (zh,), priority=0, trusted=True)
            continue
        lex.add([*en_names, *rxnorm], zh_names, priority=0, trusted=True)
