"""Strengths and dosage forms: the amounts a name states, and the forms it is made in."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Final


OS: Final = "oral_solid"
OL: Final = "oral_liquid"
INJ: Final = "injection"
_TD: Final = "transdermal"
TOP: Final = "topical"
_INH: Final = "inhalation"
RAW: Final = "raw"  # raw material, API, TCM decoction pieces: no dosage form
_OTHER: Final = "other"
ORAL: Final = frozenset({OS, OL})
FORM_ZH: Final[Mapping[str, str]] = {
    OS: "口服固体", OL: "口服液体", INJ: "注射剂", _TD: "透皮贴剂", TOP: "外用", _INH: "吸入",
    RAW: "原料药", _OTHER: "其他剂型",
}

Forms = frozenset[str]


def fs(*forms: str) -> Forms:
    """A set of dosage forms (short: the tables below are written with it)."""
    return frozenset(forms)


# The base dosage form at the end of a Chinese product name. Bare 膏/霜/粉 are left out on purpose: they end
# listed substance names (麻黄浸膏, 砒霜, 红粉) and would be cut off them.
ZH_BASE_FORMS: Final[Mapping[str, Forms]] = {
    "片": fs(OS), "片剂": fs(OS), "含片": fs(OS), "舌下片": fs(OS), "胶囊": fs(OS), "胶囊剂": fs(OS),
    "颗粒": fs(OS), "颗粒剂": fs(OS), "丸": fs(OS), "丸剂": fs(OS), "滴丸": fs(OS), "散": fs(OS),
    "散剂": fs(OS), "干混悬剂": fs(OS, OL), "干糖浆": fs(OS, OL),
    "混悬剂": fs(OL), "混悬液": fs(OL), "滴剂": fs(OL), "口服液": fs(OL), "口服溶液": fs(OL),
    "口服溶液剂": fs(OL), "溶液": fs(OL, TOP), "溶液剂": fs(OL, TOP), "糖浆": fs(OL), "糖浆剂": fs(OL),
    "合剂": fs(OL), "酊": fs(OL, TOP), "酊剂": fs(OL, TOP), "酏剂": fs(OL), "乳剂": fs(OL),
    "注射液": fs(INJ), "注射剂": fs(INJ), "针剂": fs(INJ), "粉针": fs(INJ), "粉针剂": fs(INJ),
    "输液": fs(INJ),
    "贴剂": fs(_TD), "贴片": fs(_TD), "透皮贴": fs(_TD),
    "贴膏": fs(TOP), "膏药": fs(TOP), "乳膏": fs(TOP), "软膏": fs(TOP), "眼膏": fs(TOP),
    "凝胶": fs(TOP), "搽剂": fs(TOP), "洗剂": fs(TOP), "涂剂": fs(TOP), "滴眼液": fs(TOP),
    "滴眼剂": fs(TOP), "滴耳液": fs(TOP), "滴耳剂": fs(TOP), "滴鼻液": fs(TOP), "滴鼻剂": fs(TOP),
    "栓": fs(TOP), "栓剂": fs(TOP), "喷雾剂": fs(TOP, _INH), "喷剂": fs(TOP),
    "气雾剂": fs(_INH, TOP), "吸入剂": fs(_INH), "粉雾剂": fs(_INH), "吸入粉雾剂": fs(_INH),
    "原料药": fs(RAW), "原料": fs(RAW), "饮片": fs(RAW),
}
ZH_BASE_BY_LENGTH: Final = tuple(sorted(ZH_BASE_FORMS, key=len, reverse=True))

# Words before the base form: a route that overrides it (阴道片 is not taken by mouth) and the release type.
ZH_MODIFIERS: Final[Mapping[str, tuple[Forms | None, bool]]] = {
    "缓释": (None, True), "控释": (None, True), "肠溶": (None, True), "迟释": (None, True),
    "长效": (None, True),
    "分散": (None, False), "咀嚼": (None, False), "泡腾": (None, False), "口崩": (None, False),
    "口腔崩解": (None, False), "薄膜衣": (None, False), "糖衣": (None, False), "普通": (None, False),
    "速释": (None, False), "混悬": (None, False), "软": (None, False), "硬": (None, False),
    "干": (None, False), "口服": (ORAL, False), "注射用": (fs(INJ), False), "吸入用": (fs(_INH), False),
    "吸入": (fs(_INH), False),
    "雾化": (fs(_INH), False), "外用": (fs(TOP), False), "透皮": (fs(_TD), False), "阴道": (fs(TOP), False),
    "直肠": (fs(TOP), False), "眼用": (fs(TOP), False), "鼻用": (fs(TOP), False),
    "耳用": (fs(TOP), False),
}
ZH_MODIFIERS_BY_LENGTH: Final = tuple(sorted(ZH_MODIFIERS, key=len, reverse=True))
# Words before the whole name: 复方 marks a compound; the others say the route or the patient group.
ZH_PREFIXES: Final = ("复方", "注射用", "吸入用", "外用", "小儿", "儿童", "成人")

# English form words (RxNorm dose forms and formulary names). A word whose value is None is noise: it says
# nothing about the route but is never part of a substance name.
EN_FORM_WORDS: Final[Mapping[str, Forms | None]] = {
    "tablet": fs(OS), "tablets": fs(OS), "tab": fs(OS), "tabs": fs(OS), "capsule": fs(OS),
    "capsules": fs(OS), "caplet": fs(OS), "chewable": fs(OS), "sublingual": fs(OS), "buccal": fs(OS),
    "lozenge": fs(OS), "granules": fs(OS), "pellet": fs(OS), "pellets": fs(OS),
    "oral": ORAL, "orally": ORAL, "solution": fs(OL, TOP), "suspension": fs(OL), "syrup": fs(OL),
    "elixir": fs(OL), "drops": fs(OL, TOP), "tincture": fs(OL, TOP), "liquid": fs(OL, TOP),
    "liquids": fs(OL, TOP), "solid": fs(OS), "solids": fs(OS),
    "injection": fs(INJ), "injectable": fs(INJ), "injector": fs(INJ), "syringe": None,
    "prefilled": fs(INJ), "cartridge": fs(INJ), "vial": fs(INJ), "ampoule": fs(INJ), "ampule": fs(INJ),
    "intravenous": fs(INJ), "intramuscular": fs(INJ), "subcutaneous": fs(INJ), "infusion": fs(INJ),
    "pen": fs(INJ), "transdermal": fs(_TD), "patch": fs(_TD), "patches": fs(_TD),
    "topical": fs(TOP), "cream": fs(TOP), "ointment": fs(TOP), "gel": fs(TOP), "lotion": fs(TOP),
    "ophthalmic": fs(TOP), "otic": fs(TOP), "nasal": fs(TOP), "vaginal": fs(TOP), "rectal": fs(TOP),
    "suppository": fs(TOP), "shampoo": fs(TOP), "foam": fs(TOP), "spray": fs(TOP), "eye": fs(TOP),
    "inhalation": fs(_INH), "inhaler": fs(_INH), "inhalant": fs(_INH), "nebuliser": fs(_INH),
    "nebulizer": fs(_INH), "aerosol": fs(_INH, TOP), "mucosal": fs(_OTHER),
    "api": fs(RAW), "bulk": fs(RAW),
    "extended": None, "release": None, "delayed": None, "sustained": None, "controlled": None,
    "prolonged": None, "modified": None, "immediate": None, "er": None, "sr": None, "xr": None, "cr": None,
    "xl": None, "la": None,
    "dr": None, "ir": None, "disintegrating": None, "film": None, "coated": None, "enteric": None,
    "effervescent": None, "dispersible": None, "for": None, "system": None, "kit": None, "abuse": None,
    "deterrent": None, "auto": None, "metered": None, "dose": None, "pack": None, "day": None, "days": None,
    "usp": None,
    "bp": None, "nda": None, "anda": None, "bla": None, "reconstitution": None, "powder": None,
    # dm+d and SNOMED CT product names: plural and British forms, and the words around them
    # ("Morphine 10mg/1ml solution for injection ampoules", "Oral form morphine (medicinal product form)").
    # A syringe says no route: dm+d has "pre-filled oral syringes" beside "pre-filled syringes" for injection.
    "ampoules": fs(INJ), "ampules": fs(INJ), "vials": fs(INJ), "syringes": None, "injections": fs(INJ),
    "infusions": fs(INJ), "solutions": fs(OL, TOP), "suspensions": fs(OL), "sachet": fs(OS),
    "sachets": fs(OS), "lozenges": fs(OS), "pastilles": fs(OS), "linctus": fs(OL), "mixture": fs(OL),
    "suppositories": fs(TOP), "pessary": fs(TOP), "pessaries": fs(TOP), "enema": fs(TOP),
    "cutaneous": fs(TOP), "plaster": fs(TOP), "plasters": fs(TOP), "sprays": fs(TOP), "creams": fs(TOP),
    "gels": fs(TOP), "ointments": fs(TOP), "lotions": fs(TOP), "inhalers": fs(_INH),
    "oromucosal": fs(_OTHER), "orodispersible": None, "soluble": None, "gastro": None, "resistant": None,
    "pressurised": None, "pressurized": None, "pre": None, "filled": None,
    "films": None, "sugar": None, "free": None, "of": None, "concentrate": None,
}
EN_NAME_NOISE: Final = frozenset({"of", "concentrate"})  # noise after a form, part of some listed names
# The words a dictionary writes around a name ("Product containing precisely morphine … (clinical drug)",
# "Morphine-containing product", "Oral form morphine"): left out before the name is read at all.
EN_DESCRIPTION_WORDS: Final = frozenset({
    "product", "products", "containing", "only", "precisely", "medicinal", "clinical", "drug", "real", "form",
    "forms", "conventional", "each", "in",
})
EN_MODIFIED_RELEASE: Final = frozenset({
    "extended", "delayed", "sustained", "controlled", "prolonged", "modified", "er", "sr", "xr", "cr", "xl",
    "la",
    "dr", "enteric", "gastro", "resistant",
})
# Route words win over shape words in this order ("Injectable Suspension" is an injection).
_FORM_PRIORITY: Final = (INJ, _INH, _TD, TOP, RAW, _OTHER)

# Units of strengths. Mass is converted to mg; a "/" unit makes a concentration or a rate.
MASS_MG: Final[Mapping[str, Decimal]] = {
    "mg": Decimal(1), "毫克": Decimal(1), "g": Decimal(1000), "gm": Decimal(1000), "克": Decimal(1000),
    "mcg": Decimal("0.001"), "μg": Decimal("0.001"), "ug": Decimal("0.001"), "微克": Decimal("0.001"),
    # Spelled out, as SNOMED CT and dm+d write them ("5micrograms/hour", "10 milligram/1 milliliter").
    "milligram": Decimal(1), "milligrams": Decimal(1), "milligramme": Decimal(1), "milligrammes": Decimal(1),
    "gram": Decimal(1000), "grams": Decimal(1000), "gramme": Decimal(1000), "grammes": Decimal(1000),
    "microgram": Decimal("0.001"), "micrograms": Decimal("0.001"), "microgramme": Decimal("0.001"),
    "microgrammes": Decimal("0.001"), "nanogram": Decimal("0.000001"), "nanograms": Decimal("0.000001"),
    "ng": Decimal("0.000001"),
}
_ML_SPELLINGS: Final[Mapping[str, tuple[str, Decimal]]] = {
    spelling: ("ml", Decimal(1)) for spelling in ("millilitre", "millilitres", "milliliter", "milliliters")
} | {spelling: ("ml", Decimal(1000)) for spelling in ("litre", "litres", "liter", "liters")}
OTHER_UNITS: Final[Mapping[str, tuple[str, Decimal]]] = {
    "ml": ("ml", Decimal(1)), "毫升": ("ml", Decimal(1)), "l": ("ml", Decimal(1000)),
    "iu": ("unit", Decimal(1)), "unt": ("unit", Decimal(1)), "unit": ("unit", Decimal(1)),
    "units": ("unit", Decimal(1)), "单位": ("unit", Decimal(1)), "万单位": ("unit", Decimal(10000)),
    "万u": ("unit", Decimal(10000)), "万iu": ("unit", Decimal(10000)), "meq": ("meq", Decimal(1)),
    "%": ("%", Decimal(1)), **_ML_SPELLINGS,
}
DENOMINATORS: Final[Mapping[str, tuple[str, Decimal]]] = {
    "ml": ("ml", Decimal(1)), "毫升": ("ml", Decimal(1)), "l": ("ml", Decimal(1000)),
    "hr": ("hr", Decimal(1)),
    "h": ("hr", Decimal(1)), "hour": ("hr", Decimal(1)), "hours": ("hr", Decimal(1)),
    "actuat": ("actuat", Decimal(1)), "actuation": ("actuat", Decimal(1)), "actuations": ("actuat", Decimal(1)),
    "dose": ("actuat", Decimal(1)), "doses": ("actuat", Decimal(1)), "spray": ("actuat", Decimal(1)),
    "sprays": ("actuat", Decimal(1)), "puff": ("actuat", Decimal(1)), "puffs": ("actuat", Decimal(1)),
    "揿": ("actuat", Decimal(1)), "喷": ("actuat", Decimal(1)), **_ML_SPELLINGS,
}
_UNIT_ALTERNATIVES: Final = "|".join(
    re.escape(u) for u in sorted({*MASS_MG, *OTHER_UNITS}, key=len, reverse=True)
)
_DENOMINATOR_ALTERNATIVES: Final = "|".join(
    re.escape(u) for u in sorted(DENOMINATORS, key=len, reverse=True)
)
AMOUNT: Final = re.compile(
    rf"(?<![\w.])(\d{{1,9}}(?:\.\d{{1,9}})?)\s*({_UNIT_ALTERNATIVES})"
    rf"(?:\s*/\s*(\d{{1,9}}(?:\.\d{{1,9}})?)?\s*({_DENOMINATOR_ALTERNATIVES}))?(?![a-z])"
)
PACK: Final = re.compile(r"[*×]\s*\d+\s*[片粒袋支瓶盒贴揿喷丸]?")


def decimal_of(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


Strength = tuple[Decimal, str]  # (value, kind): (5, "mg") per unit, (3, "mg/ml"), (800000, "unit")


def _amount(match: re.Match[str]) -> Strength | None:
    value = decimal_of(match.group(1))
    if value is None:
        return None
    unit = match.group(2)
    if unit in MASS_MG:
        value, kind = value * MASS_MG[unit], "mg"
    else:
        kind, factor = OTHER_UNITS[unit]
        value *= factor
    if match.group(4):
        den_kind, den_factor = DENOMINATORS[match.group(4)]
        den = decimal_of(match.group(3)) if match.group(3) else Decimal(1)
        if den is None or den == 0:
            return None
        value, kind = value / (den * den_factor), f"{kind}/{den_kind}"
    return value.normalize(), kind


def amounts_in(folded: str) -> list[Strength]:
    return [a for m in AMOUNT.finditer(folded) if (a := _amount(m)) is not None]


def comparable(strengths: frozenset[Strength]) -> frozenset[Strength]:
    """The strengths that identify a product: a volume alone ("1 ML" of a 5 MG/ML injection) is a pack."""
    kept = frozenset(s for s in strengths if s[1] != "ml")
    return kept or strengths


def combine_forms(found: Iterable[Forms]) -> Forms | None:
    """One form reading from several form words: a route word wins, else what the shape words agree on."""
    sets = [f for f in found if f]
    if not sets:
        return None
    for route in _FORM_PRIORITY:
        if any(f == {route} for f in sets):
            return fs(route)
    common = frozenset.intersection(*sets)
    return common if common else frozenset.union(*sets)


def forms_compatible(a: Forms | None, b: Forms | None) -> bool:
    return a is None or b is None or bool(a & b)


def decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")
