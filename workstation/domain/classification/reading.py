"""Reading one clue: a product name (Chinese, English or both), an ingredient list or a dosage form
becomes a Reading of its ingredients, strengths and forms."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from workstation.domain.classification.names import (
    BRACKETED,
    EN_TOKEN,
    MAX_NAME_CHARS,
    NUCLIDES,
    ZH_COMPOUNDS,
    ZH_KEEP,
    Isomers,
    Lexicon,
    compact_nuclides,
    en_salt_free,
    fold,
    has_cjk,
    strip_paren,
    words_of,
    zh_key,
    zh_salt_variants,
)
from workstation.domain.classification.strengths import (
    AMOUNT,
    DENOMINATORS,
    EN_DESCRIPTION_WORDS,
    EN_FORM_WORDS,
    EN_MODIFIED_RELEASE,
    EN_NAME_NOISE,
    MASS_MG,
    OTHER_UNITS,
    PACK,
    ZH_BASE_BY_LENGTH,
    ZH_BASE_FORMS,
    ZH_MODIFIERS,
    ZH_MODIFIERS_BY_LENGTH,
    ZH_PREFIXES,
    Forms,
    Strength,
    amounts_in,
    combine_forms,
    decimal_of,
)


# Items repeat (the same drugs on thousands of prescriptions): answers are remembered, up to this many.
CACHE_LIMIT: Final = 20_000

_EN_COMPOUND_WORDS: Final = frozenset({"compound", "combination", "combinations"})
_EN_SEPARATOR_WORDS: Final = frozenset({"and", "with"})


@dataclass(frozen=True, slots=True)
class Ingredient:
    name: str  # shown: the substance's English name where known, else the name as written
    sid: int | None  # the substance, when the lexicon knows it
    listed: int | None  # the substance whose list rows apply: sid itself, or the parent of an isomer
    relation: str  # "" the substance itself, "isomer" an isomer of ``listed``
    amount_mg: Decimal | None = None  # per dose unit, when stated


@dataclass(frozen=True, slots=True)
class Reading:
    """What one clue (a name, the formulary entry, an ATC code…) says the drug is."""

    source: str  # "formulary", "name", "ingredients", "atc"
    label: str  # the clue as written, for evidence
    ingredients: tuple[Ingredient, ...]
    compound: bool
    forms: Forms | None  # None when the clue does not say
    release: str | None  # "modified", "immediate" or None
    strengths: frozenset[Strength]
    product_key: str  # normalised product name, for the formulary's name index
    core_key: tuple[str, bool] | None  # Chinese core name and compound flag, for rows naming a preparation
    resolved: bool  # every ingredient it names is known

    @property
    def sids(self) -> frozenset[int] | None:
        """The substances, when every ingredient is known."""
        # An isomer the lexicon does not know (esketamine) is not its parent's product: no set for it.
        if not self.ingredients or not self.resolved or any(i.sid is None for i in self.ingredients):
            return None
        return frozenset(i.sid for i in self.ingredients if i.sid is not None)


EMPTY_READING_KEY: Final = ""  # a clue without a product name: never found in the formulary's name index


class NameReader:
    """Reads product names, ingredient names and dosage forms into Readings, by the lexicon's substances."""

    def __init__(self, lex: Lexicon) -> None:
        self.lex = lex
        # Chinese short names of compounds (氨酚…): their members, where the lexicon knows every one.
        self.zh_compounds: dict[str, tuple[int, ...]] = {}
        for short, members in ZH_COMPOUNDS.items():
            sids = tuple(s for m in members if (s := lex.lookup_en(m)) is not None)
            if len(sids) == len(members):
                self.zh_compounds[short] = sids
        self.isomers = Isomers()
        self._parse_cache: dict[str, Reading] = {}

    def learn_isomers(self, isomers: Isomers) -> None:
        """The isomers of listed substances, from the list rules; names read from now on see them."""
        self.isomers = isomers
        self._parse_cache.clear()

    def parse_name(self, text: str) -> Reading:
        cached = self._parse_cache.get(text)
        if cached is not None:
            return cached
        folded = fold(text)
        if has_cjk(folded):
            reading = self._parse_mixed(text, folded)
        else:
            reading = self.parse_en(text, folded)
        if len(self._parse_cache) >= CACHE_LIMIT:
            self._parse_cache.clear()
        self._parse_cache[text] = reading
        return reading

    def _parse_mixed(self, text: str, folded: str) -> Reading:
        """A Chinese name, perhaps with an English one beside it ("盐酸羟考酮缓释片 Oxycodone HCl ER")."""
        parts = folded.split()
        latin = [p for p in parts if not has_cjk(p)]
        reading = self.parse_zh(text, folded)
        latin_text = " ".join(latin)
        if not reading.ingredients and len(words_of(AMOUNT.sub(" ", latin_text))) >= 1:
            english = self.parse_en(text, latin_text)
            if english.ingredients and english.resolved:
                return replace(english, product_key=reading.product_key, core_key=reading.core_key,
                               forms=reading.forms or english.forms)
        return reading

    def parse_zh(self, text: str, folded: str) -> Reading:
        amounts = amounts_in(folded)
        # English words beside a Chinese name are read separately (_parse_mixed); 碳酸钙D3 keeps its D3.
        body = " ".join(p for p in folded.split() if has_cjk(p) or not re.search(r"[^\W\d_]{2,}", p))
        body = PACK.sub(" ", AMOUNT.sub(" ", body))
        body = strip_paren(body) or body
        key = zh_key(body)
        product_key = self.product_key(folded)
        compound = False
        prefix_forms: list[Forms] = []
        changed = True
        while changed and key:
            changed = False
            for prefix in ZH_PREFIXES:
                if key.startswith(prefix) and len(key) - len(prefix) >= 2:
                    key = key[len(prefix):]
                    changed = True
                    route = ZH_MODIFIERS.get(prefix, (None, False))[0]
                    if prefix == "复方":
                        compound = True
                    elif route is not None:
                        prefix_forms.append(route)
                    break
        core = key
        resolution = self._resolve_zh(core)
        forms: Forms | None = None
        release: str | None = None
        if resolution is None:
            stripped, forms, release = self.strip_zh_form(core)
            if stripped != core:
                core = stripped
                resolution = self._resolve_zh(core)
        if prefix_forms:
            forms = combine_forms([*prefix_forms, *([forms] if forms else [])])
        if resolution is None:
            ingredients: tuple[Ingredient, ...] = ()
            core_key = core
            resolved = False
        else:
            ingredients, core_key = resolution
            resolved = True
        compound = compound or len(ingredients) > 1
        if len(ingredients) == 1:
            per_unit = [a[0] for a in amounts if a[1] == "mg"]
            if per_unit:
                ingredients = (replace(ingredients[0], amount_mg=per_unit[0]),)
        return Reading(
            source="name",
            label=unicodedata.normalize("NFKC", text).strip()[:MAX_NAME_CHARS],
            ingredients=ingredients,
            compound=compound,
            forms=forms,
            release=release,
            strengths=frozenset(amounts),
            product_key=product_key,
            core_key=(core_key, compound) if core_key else None,
            resolved=resolved,
        )

    @staticmethod
    def strip_zh_form(core: str) -> tuple[str, Forms | None, str | None]:
        for base in ZH_BASE_BY_LENGTH:
            if core.endswith(base) and len(core) - len(base) >= 2:
                rest = core[: -len(base)]
                forms: list[Forms] = [ZH_BASE_FORMS[base]]
                release: str | None = "immediate"
                changed = True
                while changed:
                    changed = False
                    for modifier in ZH_MODIFIERS_BY_LENGTH:
                        if rest.endswith(modifier) and len(rest) - len(modifier) >= 2:
                            rest = rest[: -len(modifier)]
                            route, modified = ZH_MODIFIERS[modifier]
                            if route is not None:
                                forms.append(route)
                            if modified:
                                release = "modified"
                            changed = True
                            break
                return rest, combine_forms(forms), release
        return core, None, None

    def _resolve_zh(self, core: str) -> tuple[tuple[Ingredient, ...], str] | None:
        """The ingredients a whole Chinese core name stands for, and the key it was found under."""
        if not core:
            return None
        lex = self.lex
        for variant in (core, *zh_salt_variants(core)):
            sid = lex.zh.get(variant)
            if sid is not None:
                return (self.ingredient(sid),), variant
            members = self.zh_compounds.get(variant)
            if members is not None:
                return tuple(self.ingredient(s) for s in members), variant
        parent = self.isomers.parent_zh(core)
        if parent is not None:
            return (Ingredient(core, None, parent, "isomer"),), core
        segments = self._segment_zh(core)
        if segments is not None:
            return tuple(self.ingredient(s) for s in segments), core
        return None

    def _segment_zh(self, core: str) -> list[int] | None:
        """``core`` as two or more whole known names (氨酚羟考酮 = 氨酚 + 羟考酮), or None."""
        vocabulary = self.lex.zh_vocabulary
        longest = self.lex.zh_longest
        n = len(core)
        if n < 4 or n > 40:
            return None
        best: list[tuple[int, ...] | None] = [None] * (n + 1)
        best[0] = ()
        for i in range(n):
            here = best[i]
            if here is None:
                continue
            for length in range(2, min(longest, n - i) + 1):
                sids = vocabulary.get(core[i:i + length])
                if sids is not None:
                    candidate = here + sids
                    there = best[i + length]
                    if there is None or len(candidate) < len(there):
                        best[i + length] = candidate
        result = best[n]
        if result is None or len(result) < 2:
            return None
        return list(dict.fromkeys(result))

    def ingredient(self, sid: int) -> Ingredient:
        parent = self.isomers.isomer_of.get(sid)
        if parent is not None:
            return Ingredient(self.lex.display(sid), sid, parent, "isomer")
        return Ingredient(self.lex.display(sid), sid, sid, "")

    def parse_en(self, text: str, folded: str) -> Reading:
        product_key = self.product_key(folded)
        s = BRACKETED.sub(" ", folded)
        s = compact_nuclides(s)
        s = strip_paren(s)
        tokens = [t for t in EN_TOKEN.findall(s) if t not in EN_DESCRIPTION_WORDS]
        segments: list[list[tuple[str, str]]] = [[]]  # (kind, token): kind "num", "unit", "den", "word"
        for i, token in enumerate(tokens):
            previous = segments[-1][-1] if segments[-1] else None
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if token in NUCLIDES:
                segments[-1].append(("word", token))
            elif token[0].isdigit():
                segments[-1].append(("num", token))
            elif token == "/" and previous is not None and previous[0] in ("num", "unit") and (
                    following[:1].isdigit() or following in DENOMINATORS or following in MASS_MG):
                segments[-1].append(("den", token))  # "MG/ML", "5mg/325mg": part of a strength
            elif token in ("/", ";", "+", "&") or token in _EN_SEPARATOR_WORDS:
                if segments[-1]:
                    segments.append([])  # "A / B", "A and B": the next ingredient
            elif token == "%" or (previous is not None and previous[0] in ("num", "den") and (
                    token in MASS_MG or token in OTHER_UNITS or token in DENOMINATORS)):
                segments[-1].append(("unit", token))  # only after a number: "penicillin g" is a name
            else:
                segments[-1].append(("word", token))
        segments = [seg for seg in segments if seg]
        all_words = [t for seg in segments for kind, t in seg if kind == "word"]
        compound = any(w in _EN_COMPOUND_WORDS for w in all_words)
        form_sets: list[Forms] = []
        release: str | None = None
        for seg in segments:
            for j, (kind, token) in enumerate(seg):
                if kind == "word" and token in EN_FORM_WORDS:
                    form = EN_FORM_WORDS[token]
                    if form is not None:
                        form_sets.append(form)
                        release = release or "immediate"
                    if token in EN_MODIFIED_RELEASE:
                        release = "modified"
                if kind == "unit" and token == "hr" and j > 0 and seg[j - 1][0] == "num" and (
                        j < 2 or seg[j - 2][1] != "/"):
                    release = "modified"  # RxNorm "24 HR … Extended Release"
        forms = combine_forms(form_sets)
        strengths = frozenset(amounts_in(BRACKETED.sub(" ", folded)))
        # The whole name first: "calcium carbonate and colecalciferol", "poppy capsule" are names.
        whole = [t for t in words_of(s)
                 if (not t[0].isdigit() or t in NUCLIDES) and t not in EN_DESCRIPTION_WORDS]
        whole_hit = self._resolve_en(whole, exact_only=True) if whole else None
        ingredients: list[Ingredient] = []
        resolved = True
        if whole_hit is not None and len(segments) > 1:
            ingredients = list(whole_hit)
        else:
            for seg in segments:
                words = [t for kind, t in seg if kind == "word"]
                names = [w for w in words if w not in EN_FORM_WORDS and w not in _EN_COMPOUND_WORDS]
                if not names:
                    continue
                amount = self._segment_amount(seg)
                hit = self._resolve_en(words, exact_only=True) or self._resolve_en(names, exact_only=False)
                if hit is None:  # a noise word may belong to the name: "concentrate of poppy straw"
                    spoken = [w for w in words if w not in EN_FORM_WORDS or w in EN_NAME_NOISE]
                    hit = self._resolve_en(spoken, exact_only=False) if spoken != names else None
                if hit is None:
                    resolved = False
                    ingredients.append(Ingredient(" ".join(en_salt_free(names)), None, None, "", amount))
                    continue
                if len(hit) == 1:
                    ingredients.append(replace(hit[0], amount_mg=amount))
                else:
                    ingredients.extend(hit)
        unique: dict[str, Ingredient] = {}
        for ingredient in ingredients:
            unique.setdefault(ingredient.name, ingredient)
        result = tuple(unique.values())
        compound = compound or len(result) > 1
        return Reading(
            source="name",
            label=unicodedata.normalize("NFKC", text).strip()[:MAX_NAME_CHARS],
            ingredients=result,
            compound=compound,
            forms=forms,
            release=release,
            strengths=strengths,
            product_key=product_key,
            core_key=None,
            resolved=resolved and bool(result),
        )

    @staticmethod
    def _segment_amount(seg: Sequence[tuple[str, str]]) -> Decimal | None:
        """The per-unit mass of one ingredient ("Oxycodone Hydrochloride 5 MG"); None for a concentration."""
        for j, (kind, token) in enumerate(seg):
            if kind == "num" and j + 1 < len(seg) and seg[j + 1][0] == "unit" and seg[j + 1][1] in MASS_MG:
                if j + 2 < len(seg) and seg[j + 2][0] == "den":
                    return None
                value = decimal_of(token)
                if value is None:
                    return None
                return (value * MASS_MG[seg[j + 1][1]]).normalize()
        return None

    def _resolve_en(self, words: Sequence[str], *, exact_only: bool) -> tuple[Ingredient, ...] | None:
        if not words:
            return None
        lex = self.lex
        for candidate in (list(words), en_salt_free(words)):
            key = " ".join(candidate)
            sid = lex.en.get(key)
            if sid is not None:
                return (self.ingredient(sid),)
        if exact_only:
            return None
        clean = en_salt_free(words)
        parent = self.isomers.parent_en(clean)
        if parent is not None:
            return (Ingredient(" ".join(clean), None, parent, "isomer"),)
        segments = self._segment_en(clean)
        if segments is not None:
            return tuple(self.ingredient(s) for s in segments)
        return None

    def _segment_en(self, words: Sequence[str]) -> list[int] | None:
        """Words that are two or more whole known names ("oxycodone acetaminophen"); None otherwise."""
        n = len(words)
        if n < 2 or n > 12:
            return None
        vocabulary = self.lex.en_vocabulary
        best: list[tuple[int, ...] | None] = [None] * (n + 1)
        best[0] = ()
        for i in range(n):
            here = best[i]
            if here is None:
                continue
            for length in range(1, min(self.lex.en_longest, n - i) + 1):
                sids = vocabulary.get(" ".join(words[i:i + length]))
                if sids is not None:
                    candidate = here + sids
                    there = best[i + length]
                    if there is None or len(candidate) < len(there):
                        best[i + length] = candidate
        result = best[n]
        if result is None or len(set(result)) < 2:
            return None
        return list(dict.fromkeys(result))

    @staticmethod
    def parse_form(text: str) -> tuple[Forms | None, str | None]:
        """The form and release type a dosage-form text says ("缓释片", "Oral tablet", "注射剂")."""
        folded = fold(text)
        if has_cjk(folded):
            key = zh_key(folded)
            if key in ZH_BASE_FORMS:
                return ZH_BASE_FORMS[key], "immediate"
            _, forms, release = NameReader.strip_zh_form("药品" + key)
            if forms is None:
                for prefix, (route, _modified) in ZH_MODIFIERS.items():
                    if key.startswith(prefix) and route is not None:
                        return route, None
            return forms, release
        words = words_of(folded)
        found = [f for w in words if (f := EN_FORM_WORDS.get(w)) is not None]
        modified = any(w in EN_MODIFIED_RELEASE for w in words)
        release = "modified" if modified else ("immediate" if found else None)
        return combine_forms(found), release

    @staticmethod
    def product_key(folded: str) -> str:
        return ZH_KEEP.sub("", PACK.sub("", AMOUNT.sub("", BRACKETED.sub("", folded))))

    def single_sid(self, name: str) -> int | None:
        if not name.strip():
            return None
        folded = fold(name)
        if has_cjk(folded):
            key = zh_key(folded)
            for variant in (key, *zh_salt_variants(key)):
                if variant in self.lex.zh:
                    return self.lex.zh[variant]
            return None
        return self.lex.lookup_en(name)
