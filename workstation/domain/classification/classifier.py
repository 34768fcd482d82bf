"""The classifier: an item's clues resolved to the formulary and judged against the lists;
the strictest answer wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Final

from workstation.domain.classification.judging import Hit, Judge, pair
from workstation.domain.classification.lists import ListRules, register_list_names
from workstation.domain.classification.model import (
    ATC_SYSTEM,
    DRUG_SYSTEM,
    MATCHED_BY_ATC,
    MATCHED_BY_CODE,
    MATCHED_BY_GENERIC_NAME,
    MATCHED_BY_PRODUCT_NAME,
    RXNORM_SYSTEM,
    DrugClassification,
)
from workstation.domain.classification.names import (
    BUILTIN_SUBSTANCES,
    MAX_NAME_CHARS,
    ZH_ABBREVIATIONS,
    Lexicon,
    fold,
)
from workstation.domain.classification.reading import (
    CACHE_LIMIT,
    EMPTY_READING_KEY,
    Ingredient,
    NameReader,
    Reading,
)
from workstation.domain.classification.strengths import (
    Forms,
    amounts_in,
    combine_forms,
    comparable,
    forms_compatible,
)
from workstation.domain.formulary import FormularyEntry
from workstation.domain.prescription import Concept, Item
from workstation.domain.special_drugs import CATEGORY_NAME_ZH, SpecialDrugList, normalise_atc


_DRUG_SYSTEMS: Final = frozenset({DRUG_SYSTEM, DRUG_SYSTEM + "/"})
_ATC_SYSTEMS: Final = frozenset({
    ATC_SYSTEM, ATC_SYSTEM + "/", "https://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73",
})


class Classifier:
    """Resolves items to the formulary and the special-drug lists. Build once; ``classify`` is fast, pure."""

    def __init__(self, formulary: Sequence[FormularyEntry], special: SpecialDrugList) -> None:
        self.special = special
        self._lex = Lexicon()
        register_list_names(self._lex, special)
        for en_names, zh_names in BUILTIN_SUBSTANCES:
            self._lex.add(en_names, zh_names, priority=1, trusted=True)
        for fe in formulary:
            self._register_formulary_names(fe)
        self._lex.freeze(ZH_ABBREVIATIONS)
        self._reader = NameReader(self._lex)
        self._rules = ListRules(special, self._lex, self._reader)
        self._judge = Judge(self._rules)
        self._cache: dict[tuple[Concept, tuple[Concept, ...], str | None], DrugClassification] = {}
        for fe in formulary:
            if fe.atc and len(fe.atc) == 7:
                names = (*fe.ingredients_en, *fe.ingredients_zh, fe.generic_en or "", fe.generic_zh or "")
                for name in names:
                    named = self._reader.single_sid(name)
                    if named is not None and len(fe.ingredients_en or fe.ingredients_zh) <= 1:
                        self._rules.atc_of.setdefault(named, set()).add(fe.atc)
        self._entries = tuple(self._entry_reading(fe) for fe in formulary)
        self._by_code: dict[str, int] = {}
        self._by_code_folded: dict[str, int] = {}
        self._by_product: dict[str, list[int]] = {}
        self._by_atc: dict[str, list[int]] = {}
        self._by_sids: dict[frozenset[int], list[int]] = {}
        for index, (fe, reading) in enumerate(self._entries):
            self._by_code.setdefault(fe.code, index)
            self._by_code_folded.setdefault(fold(fe.code).strip(), index)
            for name in (fe.name_zh, fe.name_en or ""):
                key = self._reader.product_key(fold(name))
                if key:
                    self._by_product.setdefault(key, []).append(index)
            if fe.atc and len(fe.atc) == 7:
                self._by_atc.setdefault(fe.atc, []).append(index)
            entry_sids = reading.sids
            if entry_sids:
                self._by_sids.setdefault(entry_sids, []).append(index)
        self._atc_readings = self._build_atc_readings()

    def _register_formulary_names(self, fe: FormularyEntry) -> None:
        # Untrusted: a formulary only ever adds names to what the lists and the built-in table know.
        if len(fe.ingredients_zh) == len(fe.ingredients_en):
            for zh, en in zip(fe.ingredients_zh, fe.ingredients_en):
                self._lex.add((en,), (zh,), priority=3, trusted=False)
        else:
            for zh in fe.ingredients_zh:
                self._lex.add((), (zh,), priority=3, trusted=False)
            for en in fe.ingredients_en:
                self._lex.add((en,), (), priority=3, trusted=False)
        if max(len(fe.ingredients_zh), len(fe.ingredients_en)) <= 1:
            self._lex.add((fe.generic_en or "",), (fe.generic_zh or "",), priority=3, trusted=False)

    def _entry_reading(self, fe: FormularyEntry) -> tuple[FormularyEntry, Reading]:
        zh_reading = self._reader.parse_name(fe.name_zh)
        en_reading = self._reader.parse_name(fe.name_en) if fe.name_en else None
        ingredients: list[Ingredient] = []
        names_en = list(fe.ingredients_en)
        names_zh = list(fe.ingredients_zh)
        count = max(len(names_en), len(names_zh))
        if count == 0:
            names_en = [fe.generic_en] if fe.generic_en else []
            names_zh = [fe.generic_zh] if fe.generic_zh else []
            count = max(len(names_en), len(names_zh))
        resolved = True
        for i in range(count):
            candidates = [n for n in (names_en[i] if i < len(names_en) else "",
                                      names_zh[i] if i < len(names_zh) else "") if n]
            found: Ingredient | None = None
            for name in candidates:
                parsed = self._reader.parse_name(name)
                if len(parsed.ingredients) == 1 and (parsed.ingredients[0].listed is not None
                                                     or parsed.ingredients[0].sid is not None):
                    found = parsed.ingredients[0]
                    break
            if found is None:
                resolved = False
                shown = fold(candidates[0]).strip() if candidates else ""
                if shown:
                    ingredients.append(Ingredient(shown, None, None, ""))
            else:
                ingredients.append(found)
        if not ingredients:
            # No ingredient columns: what the product name says.
            for reading in (zh_reading, en_reading):
                if reading is not None and reading.ingredients:
                    ingredients = list(reading.ingredients)
                    resolved = reading.resolved
                    break
        strengths = frozenset(amounts_in(fold(fe.strength or "")))
        per_unit = [a for a in amounts_in(fold(fe.strength or "")) if a[1] == "mg"]
        if len(per_unit) == len(ingredients) and ingredients:
            ingredients = [replace(ing, amount_mg=amount[0]) for ing, amount in zip(ingredients, per_unit)]
        form_reading = self._reader.parse_form(fe.dosage_form) if fe.dosage_form else (None, None)
        forms = form_reading[0] or zh_reading.forms or (en_reading.forms if en_reading else None)
        release = zh_reading.release or (en_reading.release if en_reading else None) or form_reading[1]
        compound = len(ingredients) > 1 or zh_reading.compound or "compound" in fold(fe.generic_en or "")
        reading = Reading(
            source="formulary",
            label=f"{fe.code} {fe.name_zh}",
            ingredients=tuple(ingredients),
            compound=compound,
            forms=forms,
            release=release,
            strengths=strengths,
            product_key=zh_reading.product_key,
            core_key=zh_reading.core_key,
            resolved=resolved,
        )
        return fe, reading

    def _build_atc_readings(self) -> dict[str, tuple[Reading, ...]]:
        found: dict[str, dict[tuple[frozenset[int], bool], Reading]] = {}

        def add(atc: str, sids: Sequence[int], compound: bool) -> None:
            ingredients = tuple(self._reader.ingredient(s) for s in sids)
            reading = Reading("atc", atc, ingredients, compound, None, None, frozenset(), EMPTY_READING_KEY,
                              None, True)
            found.setdefault(atc, {}).setdefault((frozenset(sids), compound), reading)

        for sid, rules in self._rules.substance_rules.items():
            for rule in rules:
                if rule.entry.atc_code and len(rule.entry.atc_code) == 7:
                    add(rule.entry.atc_code, (sid,), False)
        for sids_key, named in self._rules.named_by_set.items():
            for named_rule in named:
                if named_rule.entry.atc_code and len(named_rule.entry.atc_code) == 7:
                    add(named_rule.entry.atc_code, sorted(sids_key), True)
        for crule in self._rules.class_rules:
            if crule.entry.atc_code and len(crule.entry.atc_code) == 7 and crule.substances:
                add(crule.entry.atc_code, sorted(crule.substances), not crule.single)
        for fe, reading in self._entries:
            if fe.atc and len(fe.atc) == 7 and reading.sids:
                add(fe.atc, sorted(reading.sids), reading.compound)
        return {atc: tuple(readings.values()) for atc, readings in found.items()}

    def classify(self, item: Item) -> DrugClassification:
        """The drug of ``item``: formulary entry, special categories (strictest first) and the evidence."""
        key = (item.drug, item.ingredients, item.medication_form)
        try:
            cached = self._cache.get(key)
        except TypeError:  # an unhashable value smuggled into a Concept: classify without remembering
            return self._classify(item.drug, item.ingredients, item.medication_form)
        if cached is not None:
            return cached
        result = self._classify(item.drug, item.ingredients, item.medication_form)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = result
        return result

    def _classify(self, drug: Concept, ingredient_concepts: tuple[Concept, ...],
                  medication_form: str | None) -> DrugClassification:
        catalogue_codes: list[str] = []
        atc_codes: list[str] = []
        other_codes: list[str] = []
        names: list[str] = []
        for coding in drug.codings:
            system = (coding.system or "").strip()
            code = (coding.code or "").strip()
            if code and system in _DRUG_SYSTEMS:
                catalogue_codes.append(code)
            elif code and system in _ATC_SYSTEMS:
                atc = normalise_atc(code)
                if atc is not None:
                    atc_codes.append(atc)
            elif code:
                other_codes.append(f"{'RxNorm' if system == RXNORM_SYSTEM else system or '?'} {code}")
            if coding.display and coding.display.strip():
                names.append(coding.display.strip())
        if drug.text and drug.text.strip():
            names.insert(0, drug.text.strip())
        names = list(dict.fromkeys(n[: MAX_NAME_CHARS * 2] for n in names))
        name_readings = [self._reader.parse_name(n) for n in names]
        item_form, item_release = self._reader.parse_form(medication_form) if medication_form else (None, None)

        entry, matched_by, reasons = self._resolve_entry(catalogue_codes, atc_codes, name_readings, item_form,
                                                         item_release)
        entry_reading = self._entries[entry][1] if entry is not None else None
        formulary_entry = self._entries[entry][0] if entry is not None else None

        rich: list[Reading] = [entry_reading] if entry_reading else []
        rich += [r for r in name_readings if r.ingredients or r.core_key]
        thin: list[Reading] = []
        ingredient_reading = self._ingredient_reading(ingredient_concepts)
        if ingredient_reading is not None:
            thin.append(ingredient_reading)
        for atc in dict.fromkeys(atc_codes):
            thin.extend(self._atc_readings.get(atc, ()))
        found_listed = {i.listed for r in rich for i in r.ingredients if i.listed is not None}
        found_listed |= {i.sid for r in rich for i in r.ingredients if i.sid is not None}
        readings = list(rich)
        for reading in thin:
            # A code or a bare ingredient list says which substance, not whether the product is a compound or
            # its form and strength: when a richer clue names the same substance, that clue is read instead.
            own = {i.listed if i.listed is not None else i.sid for i in reading.ingredients}
            if not own or not own <= found_listed:
                readings.append(reading)

        forms_seen = [f for f in (item_form, *(r.forms for r in readings)) if f]
        pooled_forms = frozenset.union(*forms_seen) if forms_seen else None
        named = self._judge.with_named_ingredients
        readings = [named(r, item_form or r.forms or pooled_forms) for r in readings]
        pooled_amounts: dict[int, Decimal] = {}
        for reading in readings:
            for ingredient in reading.ingredients:
                key = ingredient.listed if ingredient.listed is not None else ingredient.sid
                if key is not None and ingredient.amount_mg is not None:
                    # Several clues giving several strengths: the larger is the stricter reading.
                    known = pooled_amounts.get(key, ingredient.amount_mg)
                    pooled_amounts[key] = max(known, ingredient.amount_mg)

        hits: list[Hit] = []
        notes: list[str] = []
        for reading in readings:
            forms = item_form or reading.forms or pooled_forms
            self._judge.evaluate(reading, forms, pooled_amounts, hits, notes)
        self._judge.evaluate_item(readings, names, atc_codes, formulary_entry, item_form, pooled_forms, hits)
        if formulary_entry is not None and formulary_entry.special_category:
            category = formulary_entry.special_category
            generic = formulary_entry.generic_en or formulary_entry.generic_zh or formulary_entry.name_zh
            hits.append(Hit(category, None, generic, f"药品目录标记为{CATEGORY_NAME_ZH[category]}",
                            f"the formulary flags it {category}"))
        if entry_reading is not None:
            notes.extend(self._consistency_notes(entry_reading, name_readings))

        flags, family_notes = self._judge.flags(hits)
        notes.extend(family_notes)
        categories = tuple(dict.fromkeys(f.category for f in flags))

        ingredients: dict[str, Ingredient] = {}
        anything_known = any(i.listed is not None for r in readings for i in r.ingredients)
        for reading in readings:
            for ingredient in reading.ingredients:
                # An unknown single name ("Percocet", a brand) is not an ingredient when another clue says
                # what the drug contains; an unknown part of a compound is (it may matter for allergies).
                unknown = ingredient.sid is None and ingredient.listed is None
                if unknown and anything_known and not reading.compound:
                    continue
                ingredients.setdefault(ingredient.name, ingredient)
        all_names: list[str] = []
        for ingredient in ingredients.values():
            all_names.append(ingredient.name)
            if ingredient.sid is not None:
                all_names.extend(self._lex.names.get(ingredient.sid, ()))
        compound_readings = [r for r in readings if r.compound and not self._judge.one_substance(r)]
        is_compound = any(r.source != "atc" for r in compound_readings) or (
            all(r.source == "atc" for r in readings) and bool(compound_readings))

        unknown_reason = None
        if formulary_entry is None:
            shown = "、".join(names[:2] or [label for c in ingredient_concepts if (label := c.label())][:2])
            if not reasons and shown:
                reasons.append(pair(f"“{shown}”无法匹配药品目录中的品种",
                                    f"no formulary product matches “{shown}”"))
            elif not reasons and not other_codes:
                reasons.append(pair("处方条目未写明药品（没有代码、名称或成分）",
                                    "the item names no drug (no code, name or ingredient)"))
            if other_codes:
                reasons.append(pair(f"{'、'.join(other_codes[:3])} 不在本系统的对照表中",
                                    f"{', '.join(other_codes[:3])} is not in our tables"))
            unknown_reason = "; ".join(dict.fromkeys(reasons))
        return DrugClassification(
            formulary_entry=formulary_entry,
            matched_by=matched_by,
            categories=categories,
            flags=flags,
            ingredients=tuple(ingredients),
            is_compound=is_compound,
            unknown_reason=unknown_reason,
            notes=tuple(dict.fromkeys(notes)),
            ingredient_names=tuple(dict.fromkeys(all_names)),
        )

    def _ingredient_reading(self, concepts: tuple[Concept, ...]) -> Reading | None:
        """Medication.ingredient as one reading: each concept one ingredient, a compound when several."""
        if not concepts:
            return None
        ingredients: list[Ingredient] = []
        resolved = True
        for concept in concepts:
            found: Ingredient | None = None
            texts = [t for t in (concept.text, *(c.display for c in concept.codings)) if t and t.strip()]
            for text in texts:
                parsed = self._reader.parse_name(text)
                if len(parsed.ingredients) == 1 and (parsed.ingredients[0].listed is not None
                                                     or parsed.ingredients[0].sid is not None):
                    found = parsed.ingredients[0]
                    break
            if found is None:
                for coding in concept.codings:
                    atc = normalise_atc(coding.code or "") if coding.system in _ATC_SYSTEMS else None
                    readings = self._atc_readings.get(atc, ()) if atc else ()
                    singles = [r for r in readings if len(r.ingredients) == 1]
                    if singles:
                        found = singles[0].ingredients[0]
                        break
            if found is None:
                resolved = False
                if texts:
                    found = Ingredient(fold(texts[0]).strip(), None, None, "")
            if found is not None:
                ingredients.append(found)
        if not ingredients:
            return None
        label = " + ".join(i.name for i in ingredients)
        return Reading("ingredients", label, tuple(ingredients), len(ingredients) > 1, None, None,
                       frozenset(), EMPTY_READING_KEY, None, resolved)

    def _resolve_entry(self, catalogue_codes: Sequence[str], atc_codes: Sequence[str],
                       name_readings: Sequence[Reading], item_form: Forms | None,
                       item_release: str | None) -> tuple[int | None, str | None, list[str]]:
        reasons: list[str] = []
        for code in catalogue_codes:
            index = self._by_code.get(code)
            if index is None:
                index = self._by_code_folded.get(fold(code).strip())
            if index is not None:
                return index, MATCHED_BY_CODE, []
            reasons.append(pair(f"药品代码 {code} 不在药品目录中",
                                f"catalogue code {code} is not in the formulary"))

        forms = item_form or combine_forms(r.forms for r in name_readings if r.forms)
        release = item_release or next((r.release for r in name_readings if r.release), None)
        strengths = [s for r in name_readings if (s := comparable(r.strengths))]

        def narrow(candidates: Sequence[int], by_form: bool = True) -> list[int]:
            kept = []
            for index in dict.fromkeys(candidates):
                reading = self._entries[index][1]
                if by_form and not forms_compatible(forms, reading.forms):
                    continue
                if by_form and release and reading.release and release != reading.release:
                    continue
                entry_strengths = comparable(reading.strengths)
                if strengths and entry_strengths and not any(s == entry_strengths for s in strengths):
                    continue
                kept.append(index)
            return kept

        def describe(indexes: Sequence[int]) -> str:
            entries = [self._entries[i][0] for i in indexes[:4]]
            shown = "、".join(f"{e.code} {e.name_zh}" for e in entries)
            return shown + (f" … (+{len(indexes) - 4})" if len(indexes) > 4 else "")

        for reading in name_readings:
            candidates = self._by_product.get(reading.product_key, []) if reading.product_key else []
            # The product's own name says its form: only its strength can still tell two products apart.
            kept = narrow(candidates, by_form=False)
            if len(kept) == 1:
                return kept[0], MATCHED_BY_PRODUCT_NAME, []
            if len(kept) > 1:
                reasons.append(pair(f"名称“{reading.label}”对应药品目录中多个规格（{describe(kept)}），无法确定",
                                    f"the name “{reading.label}” matches several formulary products "
                                    f"({describe(kept)}); cannot tell which"))
        for atc in dict.fromkeys(atc_codes):
            candidates = self._by_atc.get(atc, [])
            kept = narrow(candidates)
            if len(kept) == 1:
                return kept[0], MATCHED_BY_ATC, []
            if len(kept) > 1:
                reasons.append(pair(
                    f"ATC {atc} 对应药品目录中多个品种（{describe(kept)}），无法确定是哪一个",
                    f"ATC {atc} matches several formulary products ({describe(kept)}); cannot tell which"))
            elif candidates:
                reasons.append(pair(
                    f"ATC {atc} 对应的药品目录品种（{describe(candidates)}）剂型或规格不符",
                    f"the formulary products of ATC {atc} ({describe(candidates)}) differ in form or "
                    "strength"))
            else:
                reasons.append(pair(f"ATC {atc} 不在药品目录中", f"ATC {atc} matches no formulary product"))
        for reading in name_readings:
            sids = reading.sids
            if not sids:
                continue
            candidates = self._by_sids.get(sids, [])
            kept = narrow(candidates)
            if len(kept) == 1:
                return kept[0], MATCHED_BY_GENERIC_NAME, []
            if len(kept) > 1:
                reasons.append(pair(
                    f"“{reading.label}”的通用名对应药品目录中多个品种（{describe(kept)}），无法确定",
                    f"the generic name of “{reading.label}” matches several formulary products "
                    f"({describe(kept)}); cannot tell which"))
            elif candidates:
                reasons.append(pair(
                    f"“{reading.label}”与药品目录中同通用名品种（{describe(candidates)}）剂型或规格不符",
                    f"“{reading.label}” differs in form or strength from the formulary products "
                    f"of the same generic name ({describe(candidates)})"))
        return None, None, reasons

    def _consistency_notes(self, entry_reading: Reading, name_readings: Sequence[Reading]) -> list[str]:
        notes = []
        entry_sids = entry_reading.sids
        for reading in name_readings:
            sids = reading.sids
            if entry_sids and sids and not (entry_sids & sids):
                notes.append(pair(f"药品代码对应“{entry_reading.label}”，但名称写的是“{reading.label}”",
                                  f"the catalogue code is “{entry_reading.label}” but the name says "
                                  f"“{reading.label}”"))
        return notes
