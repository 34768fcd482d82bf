"""Judging a reading against the list rules: which categories apply, on what evidence, and the
notes a pharmacist should see (a controlled part of an uncovered compound)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from workstation.domain.classification.lists import (
    CONTROLLED,
    ISOMER_CATEGORIES,
    ListRules,
    NamedRule,
    SubstanceRule,
)
from workstation.domain.classification.model import SpecialFlag
from workstation.domain.classification.names import fold, nuclide_in, strip_paren, words_of, zh_key
from workstation.domain.classification.reading import CACHE_LIMIT, Ingredient, Reading
from workstation.domain.classification.strengths import (
    FORM_ZH,
    OL,
    ORAL,
    OS,
    RAW,
    TOP,
    Forms,
    decimal_text,
    forms_compatible,
)
from workstation.domain.formulary import FormularyEntry
from workstation.domain.special_drugs import (
    CATEGORY_NAME_ZH,
    RULE_FOR_CATEGORY,
    SPECIAL_CATEGORIES,
    SpecialDrugEntry,
)


# Narcotic, category I and category II psychotropic are mutually exclusive readings of one preparation: only
# the strictest is kept (a preparation cannot be both), the others become notes.
_FAMILY: Final = ("narcotic", "psychotropic_1", "psychotropic_2")

_RANK: Final[Mapping[str, int]] = {category: rank for rank, category in enumerate(SPECIAL_CATEGORIES)}

_LIST_ZH: Final[Mapping[str, str]] = {
    "narcotic": "麻醉药品目录",
    "psychotropic_1": "第一类精神药品目录",
    "psychotropic_2": "第二类精神药品目录",
    "toxic": "医疗用毒性药品品种",
    "radioactive": "放射性药品目录",
    "precursor_chemical": "药品类易制毒化学品目录",
    "online_sale_prohibited": "药品网络销售禁止清单",
}

# Glucose-lowering drugs by name, for items without an ATC code (insulins, GLP-1 agonists).
_GLUCOSE_LOWERING_ZH: Final = ("胰岛素", "鲁肽", "糖肽", "那肽", "替尔泊肽")
_GLUCOSE_LOWERING_EN: Final = ("insulin", "glutide", "enatide", "tirzepatide", "pramlintide")


def pair(zh: str, en: str) -> str:
    return f"{zh} / {en}"


_NameFacts = tuple[str, frozenset[str], str | None]  # a name's Chinese key, its English words, a radionuclide


@dataclass(frozen=True, slots=True)
class Hit:
    category: str
    entry: SpecialDrugEntry | None
    ingredient: str
    zh: str  # the evidence in Chinese
    en: str  # … and in English


def _threshold_holds(op: str, amount: Decimal, limit: Decimal) -> bool:
    if op == ">":
        return amount > limit
    if op in (">=", "≥"):
        return amount >= limit
    if op in ("<=", "≤"):
        return amount <= limit
    return amount < limit


class Judge:
    """Judges a reading against the list rules: the categories that apply and the evidence for each."""

    def __init__(self, rules: ListRules) -> None:
        self.rules = rules
        self.reader = rules.reader
        self.lex = rules.lex
        self._facts_cache: dict[str, _NameFacts] = {}

    def evaluate(self, reading: Reading, forms: Forms | None, pooled: Mapping[int, Decimal],
                 hits: list[Hit], notes: list[str]) -> None:
        prefix_zh = f"ATC {reading.label}：" if reading.source == "atc" else ""
        prefix_en = f"ATC {reading.label}: " if reading.source == "atc" else ""
        amounts = dict(pooled)
        for ingredient in reading.ingredients:
            key = ingredient.listed if ingredient.listed is not None else ingredient.sid
            if key is not None and ingredient.amount_mg is not None:
                amounts[key] = max(amounts.get(key, ingredient.amount_mg), ingredient.amount_mg)
        covered: set[int] = set()

        # Rows naming this very preparation (氨酚羟考酮片, 复方甘草片, 可愈糖浆).
        if reading.core_key is not None:
            keys = [reading.core_key] if reading.ingredients else [(reading.core_key[0], True),
                                                                   (reading.core_key[0], False)]
            for named_key in keys:
                for rule in self.rules.named_by_key.get(named_key, ()):
                    if not forms_compatible(forms, rule.forms) or not self._amounts_agree(reading, rule):
                        continue
                    for sid, value in rule.amounts.items():  # the named product's strength, when not written
                        amounts.setdefault(sid, value)
                    covered.update(rule.controlled)
                    hits.append(self._named_hit(rule, reading, prefix_zh, prefix_en))
            for entry in self.rules.named_name_rules.get(reading.core_key[0], ()):
                hits.append(Hit(
                    entry.category, entry, "",
                    f"{prefix_zh}“{reading.label}”即{entry.name_zh}，列入{_LIST_ZH[entry.category]}",
                    f"{prefix_en}“{reading.label}” is {entry.name_en}, on the {entry.category} list"))

        identified = [i for i in reading.ingredients if i.listed is not None]
        if not reading.compound and len(reading.ingredients) == 1 and identified:
            self._evaluate_single(identified[0], forms, prefix_zh, prefix_en, hits, notes)
            return
        if self.one_substance(reading):
            # Salts and isomers of one substance (mixed amphetamine salts): one ingredient, not a compound.
            for ingredient in identified:
                self._evaluate_single(ingredient, forms, prefix_zh, prefix_en, hits, notes)
            return
        if not reading.compound:
            return

        sids = reading.sids
        if sids is not None and len(sids) >= 2:
            for rule in self.rules.named_by_set.get(sids, ()):
                if forms_compatible(forms, rule.forms) and self._amounts_agree(reading, rule):
                    covered.update(rule.controlled)
                    hits.append(self._named_hit(rule, reading, prefix_zh, prefix_en))

        listed = {i.listed: i for i in identified if i.listed is not None}
        for crule in self.rules.class_rules:
            if crule.single:
                continue
            if crule.oral and forms is not None and not (forms & ORAL):
                continue
            if crule.state == "solid" and forms is not None and OS not in forms:
                continue
            if crule.state == "liquid" and forms is not None and OL not in forms:
                continue
            if crule.substances:
                if not crule.substances <= listed.keys():
                    continue
                # The threshold and the evidence concern the controlled member (丁丙诺啡, not 纳洛酮).
                members = sorted(crule.substances, key=lambda s: (not self.rules.is_controlled(s), s))[:1]
            elif crule.member_category is not None:
                members = [s for s in listed if any(r.entry.category == crule.member_category
                                                    for r in self.rules.substance_rules.get(s, ()))]
            else:
                members = [s for s in listed if s in crule.family]
            for sid in members:
                amount_zh = amount_en = ""
                if crule.op is not None and crule.limit_mg is not None:
                    amount = amounts.get(sid)
                    if amount is None:
                        # Strength unknown: only the stricter side of a threshold can be claimed.
                        if crule.op not in (">", ">=", "≥"):
                            continue
                        amount_zh, amount_en = "（规格不明，从严）", " (strength unknown, read strictly)"
                    elif not _threshold_holds(crule.op, amount, crule.limit_mg):
                        continue
                    else:
                        amount_zh = f" 每单位 {decimal_text(amount)} mg"
                        amount_en = f" {decimal_text(amount)} mg per unit"
                ingredient = listed[sid]
                zh, en = self._ingredient_names(ingredient)
                if crule.entry.category in _FAMILY:
                    covered.add(sid)
                hits.append(Hit(
                    crule.entry.category, crule.entry, ingredient.name,
                    f"{prefix_zh}复方制剂含 {zh}{amount_zh}，属“{crule.entry.name_zh}”，"
                    f"列入{_LIST_ZH[crule.entry.category]}",
                    f"{prefix_en}compound containing {en}{amount_en} falls under "
                    f"“{crule.entry.name_en}” on the {crule.entry.category} list"))

        for sid, ingredient in listed.items():
            categories = [r.entry.category for r in self.rules.substance_rules.get(sid, ())
                          if r.entry.category in CONTROLLED]
            if not categories:
                continue
            category = min(categories, key=lambda c: _RANK[c])
            if category in _FAMILY and sid in covered:
                continue  # a row for such compounds applied: the flag shows the ingredient
            zh, en = self._ingredient_names(ingredient)
            notes.append(pair(
                f"复方制剂含 {zh}（其单方列入{_LIST_ZH[category]}）；该目录不列管此复方",
                f"the compound contains {en} (listed as a single substance on the {category} list); "
                "that list does not cover this compound"))

    def one_substance(self, reading: Reading) -> bool:
        """Several ingredients that are all salts or isomers of one listed substance."""
        if len(reading.ingredients) < 2 or any(i.listed is None for i in reading.ingredients):
            return False
        return len({self.reader.isomers.family_root.get(i.listed, i.listed) for i in reading.ingredients
                    if i.listed is not None}) == 1

    def _evaluate_single(self, ingredient: Ingredient, forms: Forms | None, prefix_zh: str, prefix_en: str,
                         hits: list[Hit], notes: list[str]) -> None:
        sid = ingredient.listed
        if sid is None:
            return
        applicable: list[SubstanceRule] = []
        for rule in self.rules.substance_rules.get(sid, ()):
            category = rule.entry.category
            if ingredient.relation == "isomer" and category not in ISOMER_CATEGORIES:
                continue
            if rule.forms is not None and forms is not None and not (rule.forms & forms):
                continue
            if rule.raw_only and forms is not None and RAW not in forms:
                zh, en = self._ingredient_names(ingredient)
                notes.append(pair(
                    f"{zh} 的原料药列入{_LIST_ZH[category]}（{rule.entry.name_zh}）；该目录不含其制剂",
                    f"{en} as raw material is on the {category} list; its preparations are not"))
                continue
            if rule.topical_exempt and forms is not None and forms <= {TOP}:
                continue
            applicable.append(rule)
        if forms is not None and any(r.forms is not None and r.entry.category in _FAMILY for r in applicable):
            # A row for this very form (丁丙诺啡透皮贴剂) overrides the substance's general row.
            applicable = [r for r in applicable if r.forms is not None or r.entry.category not in _FAMILY]
        zh, en = self._ingredient_names(ingredient)
        for rule in applicable:
            category = rule.entry.category
            if rule.forms is not None and rule.entry.category != "radioactive":
                via_zh = f"{prefix_zh}{rule.entry.name_zh}（成分 {zh}）列入{_LIST_ZH[category]}"
                via_en = f"{prefix_en}{rule.entry.name_en} (ingredient {en}) is on the {category} list"
            elif ingredient.relation == "isomer":
                parent_zh, parent_en = self.lex.bilingual(sid)
                via_zh = f"{prefix_zh}成分 {zh} 是 {parent_zh} 的异构体，{parent_zh} 列入{_LIST_ZH[category]}"
                via_en = (f"{prefix_en}ingredient {en} is an isomer of {parent_en}, which is on the "
                          f"{category} list")
            else:
                via_zh = f"{prefix_zh}成分 {zh} 列入{_LIST_ZH[category]}"
                via_en = f"{prefix_en}ingredient {en} is on the {category} list"
            hits.append(Hit(category, rule.entry, ingredient.name, via_zh, via_en))
        for crule in self.rules.class_rules:
            if crule.single and sid in crule.substances and (forms is None or not crule.oral
                                                             or bool(forms & ORAL)):
                hits.append(Hit(
                    crule.entry.category, crule.entry, ingredient.name,
                    f"{prefix_zh}单方制剂，成分 {zh}，属“{crule.entry.name_zh}”",
                    f"{prefix_en}single-ingredient preparation of {en}: “{crule.entry.name_en}”"))

    def evaluate_item(self, readings: Sequence[Reading], names: Sequence[str], atc_codes: Sequence[str],
                      entry: FormularyEntry | None, item_form: Forms | None, pooled_forms: Forms | None,
                      hits: list[Hit]) -> None:
        """Rules about the product as a whole: dosage-form and ATC classes, radionuclides."""
        atcs = set(atc_codes)
        if entry is not None and entry.atc:
            atcs.add(entry.atc)
        for reading in readings:
            for ingredient in reading.ingredients:
                for sid in (ingredient.sid, ingredient.listed):
                    if sid is not None:
                        atcs.update(self.rules.atc_of.get(sid, ()))
        entry_names = [entry.name_zh, entry.name_en or ""] if entry else []
        facts = [self._name_facts(n) for n in (*names, *entry_names)]
        first = next((i.name for r in readings for i in r.ingredients), "")
        forms = item_form or pooled_forms
        ordered_atcs = sorted(atcs)
        for group in self.rules.group_rules:
            if group.excluded_atc and any(a.startswith(group.excluded_atc) for a in atcs):
                continue
            if group.forms is not None:
                if forms is None or not (forms & group.forms):
                    continue
                excluded_by_name = "A10" in group.excluded_atc or "A10A" in group.excluded_atc
                if excluded_by_name and self._glucose_lowering(readings, facts, insulin_only="A10" not in
                                                               group.excluded_atc):
                    continue
                hits.append(Hit(
                    group.entry.category, group.entry, first,
                    f"剂型为{FORM_ZH[min(forms & group.forms)]}，属“{group.entry.name_zh}”",
                    f"the dosage form falls under “{group.entry.name_en}”"))
                continue
            prefixes = group.atc_prefixes
            by_atc = next((a for a in ordered_atcs if prefixes and a.startswith(prefixes)), None)
            by_name = group.name_endings and any(key.endswith(group.name_endings) for key, _, _ in facts)
            by_word = group.en_words and any(words.intersection(group.en_words) for _, words, _ in facts)
            if by_atc or by_name or by_word:
                why_zh = f"ATC {by_atc}" if by_atc else "名称"
                why_en = f"ATC {by_atc}" if by_atc else "the name"
                hits.append(Hit(group.entry.category, group.entry, first,
                                f"{why_zh} 属“{group.entry.name_zh}”",
                                f"{why_en} falls under “{group.entry.name_en}”"))
        if not any(h.category == "radioactive" for h in hits):
            nuclide = next((n for _, _, n in facts if n), None)
            radio_atc = next((a for a in ordered_atcs if a.startswith(("V09", "V10"))), None)
            if nuclide or radio_atc:
                what_zh = f"名称含放射性核素 {nuclide}" if nuclide else f"ATC {radio_atc} 属放射性药物"
                what_en = f"the name names the radionuclide {nuclide}" if nuclide else \
                    f"ATC {radio_atc} is a radiopharmaceutical group"
                hits.append(Hit("radioactive", None, first, what_zh + "，属放射性药品",
                                what_en + ": a radioactive drug"))

    def _name_facts(self, name: str) -> _NameFacts:
        """What the whole-product rules look at in a name: its Chinese key, its words, a radionuclide."""
        cached = self._facts_cache.get(name)
        if cached is not None:
            return cached
        folded = fold(name)
        facts = (zh_key(strip_paren(folded)), frozenset(words_of(folded)), nuclide_in(folded))
        if len(self._facts_cache) >= CACHE_LIMIT:
            self._facts_cache.clear()
        self._facts_cache[name] = facts
        return facts

    def _glucose_lowering(self, readings: Sequence[Reading], facts: Sequence[_NameFacts], *,
                          insulin_only: bool) -> bool:
        """An insulin (or, unless ``insulin_only``, an incretin) by ingredient or product name.

        For items without an ATC code; with one, the A10 exclusion already applied.
        """
        texts = [key for key, _, _ in facts]
        words: set[str] = set()
        for _, name_words, _ in facts:
            words |= name_words
        for reading in readings:
            for ingredient in reading.ingredients:
                known = self.lex.names.get(ingredient.sid, ()) if ingredient.sid is not None else ()
                for name in (ingredient.name, *known):
                    key, name_words, _ = self._name_facts(name)
                    texts.append(key)
                    words |= name_words
        stems_zh = _GLUCOSE_LOWERING_ZH[:1] if insulin_only else _GLUCOSE_LOWERING_ZH
        if any(stem in text for text in texts for stem in stems_zh):
            return True
        if "insulin" in words:
            return True
        return not insulin_only and any(w.endswith(_GLUCOSE_LOWERING_EN[1:]) for w in words)

    def with_named_ingredients(self, reading: Reading, forms: Forms | None) -> Reading:
        """``reading`` with the ingredients a row naming its product states (复方甘草片 contains opium)."""
        if reading.core_key is None:
            return reading
        keys = [reading.core_key] if reading.ingredients else [(reading.core_key[0], True),
                                                               (reading.core_key[0], False)]
        added: list[Ingredient] = []
        known = {i.sid for i in reading.ingredients} | {i.listed for i in reading.ingredients}
        compound = reading.compound
        for key in keys:
            for rule in self.rules.named_by_key.get(key, ()):
                if not forms_compatible(forms, rule.forms):
                    continue
                compound = compound or key[1]
                for sid in rule.stated:
                    if sid not in known:
                        known.add(sid)
                        added.append(self.reader.ingredient(sid))
        if not added:
            return reading
        return replace(reading, ingredients=reading.ingredients + tuple(added), compound=compound or len(
            reading.ingredients) + len(added) > 1)

    def _amounts_agree(self, reading: Reading, rule: NamedRule) -> bool:
        for ingredient in reading.ingredients:
            key = ingredient.sid if ingredient.sid is not None else ingredient.listed
            stated = rule.amounts.get(key) if key is not None else None
            if stated is not None and ingredient.amount_mg is not None and ingredient.amount_mg != stated:
                return False
        return True

    def _named_hit(self, rule: NamedRule, reading: Reading, prefix_zh: str, prefix_en: str) -> Hit:
        # The ingredient the row is about: one listed in the row's own category, else the most strictly
        # listed one.
        def rank(sid: int) -> tuple[bool, int]:
            own = [r.entry.category for r in self.rules.substance_rules.get(sid, ())]
            return rule.entry.category not in own, min((_RANK[c] for c in own), default=len(_RANK))
        chosen = sorted(rule.controlled, key=rank) or sorted(rule.sids or ())
        ingredient = self.lex.display(chosen[0]) if chosen else ""
        return Hit(
            rule.entry.category, rule.entry, ingredient,
            f"{prefix_zh}“{reading.label}”即{rule.entry.name_zh}，列名于{_LIST_ZH[rule.entry.category]}",
            f"{prefix_en}“{reading.label}” is {rule.entry.name_en}, named on the {rule.entry.category} list")

    def _ingredient_names(self, ingredient: Ingredient) -> tuple[str, str]:
        if ingredient.sid is not None:
            return self.lex.bilingual(ingredient.sid)
        return ingredient.name, ingredient.name

    @staticmethod
    def flags(hits: Sequence[Hit]) -> tuple[tuple[SpecialFlag, ...], list[str]]:
        notes: list[str] = []
        family = [h.category for h in hits if h.category in _FAMILY]
        strictest = min(family, key=lambda c: _RANK[c]) if family else None
        kept: list[Hit] = []
        seen: set[tuple[str, int, str]] = set()
        for hit in hits:
            if hit.category in _FAMILY and hit.category != strictest and strictest is not None:
                notes.append(pair(f"从严：{CATEGORY_NAME_ZH[strictest]}优先于{CATEGORY_NAME_ZH[hit.category]}（{hit.zh}）",
                                  f"strictest wins: {strictest} over {hit.category} ({hit.en})"))
                continue
            key = (hit.category, id(hit.entry) if hit.entry is not None else 0, hit.ingredient)
            if key in seen:
                continue
            seen.add(key)
            kept.append(hit)
        kept.sort(key=lambda h: _RANK[h.category])
        return tuple(SpecialFlag(h.category, RULE_FOR_CATEGORY[h.category], h.entry, h.ingredient,
                                 pair(h.zh, h.en)) for h in kept), notes
