"""Resolve a prescription item to the pharmacy formulary and to the regulatory lists of special drugs.

How the lists are read (``resources/regulatory/special_drugs.md``), in short:

* A listed substance covers its salts (盐酸/硫酸/酒石酸… hydrochloride/sulfate/tartrate…), its isomers
  (右-/左-/艾司-, dex-/lev-/es-…) and its single-ingredient preparations, unless a row says otherwise.
* A compound (more than one active ingredient) is covered only where a row covers it: by name
  (氨酚羟考酮片), by ingredient set, or by class (含羟考酮复方口服固体制剂 with its per-unit strength
  threshold; 含麻醉药品口服复方制剂 on the online-sale ban list). A controlled ingredient in an uncovered
  compound is shown as a note.
* The western toxic-drug list covers raw materials plus the preparations it names; the formulary's own flag
  is taken as one more clue.
* Every clue (catalogue code, ATC, product names in Chinese or English, Medication.ingredient, the
  formulary's flag and ingredients) is read, and the strictest answer wins.

Names are matched as whole names after removing salts, dosage forms and strengths, never by looking for a
listed name inside another one: 美沙拉秦 is not 美沙酮, scopolamine butylbromide is not scopolamine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Final

from workstation.domain.formulary import FormularyEntry
from workstation.domain.prescription import Concept, Item
from workstation.domain.special_drugs import (
    CATEGORY_NAME_ZH,
    RULE_FOR_CATEGORY,
    SPECIAL_CATEGORIES,
    SpecialDrugEntry,
    SpecialDrugList,
    normalise_atc,
    split_list_cell,
)

DRUG_SYSTEM: Final = "https://rxws.example.org/fhir/CodeSystem/drug"
ATC_SYSTEM: Final = "http://www.whocc.no/atc"
RXNORM_SYSTEM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
_DRUG_SYSTEMS: Final = frozenset({DRUG_SYSTEM, DRUG_SYSTEM + "/"})
_ATC_SYSTEMS: Final = frozenset({
    ATC_SYSTEM, ATC_SYSTEM + "/", "https://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73",
})

# What ``matched_by`` says, in the order the clues are tried.
MATCHED_BY_CODE: Final = "catalogue code"
MATCHED_BY_PRODUCT_NAME: Final = "product name"
MATCHED_BY_ATC: Final = "ATC"
MATCHED_BY_GENERIC_NAME: Final = "generic name"

# Narcotic, category I and category II psychotropic are mutually exclusive readings of one preparation: only
# the strictest is kept (a preparation cannot be both), the others become notes.
_FAMILY: Final = ("narcotic", "psychotropic_1", "psychotropic_2")
# The categories whose substances carry their salts and isomers (the 2022 online-sale ban list names single
# generic names, and a radioactive product is defined by its nuclide, so neither is widened by isomers).
_ISOMER_CATEGORIES: Final = frozenset({
    "narcotic", "psychotropic_1", "psychotropic_2", "toxic", "precursor_chemical",
})
_CONTROLLED: Final = _ISOMER_CATEGORIES | {"radioactive"}
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

# Longer text is not a drug name (a pasted document, an attack); it is cut so a review cannot stall on it.
_MAX_NAME_CHARS: Final = 300
# Items repeat (the same drugs on thousands of prescriptions): answers are remembered, up to this many.
_CACHE_LIMIT: Final = 20_000


@dataclass(frozen=True, slots=True)
class SpecialFlag:
    """One reason an item is specially managed: the category, the review rule it feeds, and the evidence."""

    category: str
    rule_id: str
    list_entry: SpecialDrugEntry | None  # the list row that matched; None for the formulary's own flag
    ingredient: str  # the (normalised) ingredient it is about; "" when it concerns the product as a whole
    via: str  # evidence for the pharmacist, "中文 / English"


@dataclass(frozen=True, slots=True)
class DrugClassification:
    """What an item's drug is: its formulary entry, its special categories (strictest first) and why."""

    formulary_entry: FormularyEntry | None
    matched_by: str | None  # how the entry was found: "catalogue code", "product name", "ATC", "generic name"
    categories: tuple[str, ...]
    flags: tuple[SpecialFlag, ...]
    ingredients: tuple[str, ...]  # normalised ingredient names (English INN where known, else Chinese)
    is_compound: bool
    unknown_reason: str | None  # why no formulary entry matched (catalog.unknown_drug), "中文 / English"
    notes: tuple[str, ...] = ()  # evidence that is not a flag, e.g. a controlled part of a compound
    ingredient_names: tuple[str, ...] = ()  # every known name (English and Chinese) of the ingredients


# --- dosage forms ---------------------------------------------------------------------------------------

_OS: Final = "oral_solid"
_OL: Final = "oral_liquid"
_INJ: Final = "injection"
_TD: Final = "transdermal"
_TOP: Final = "topical"
_INH: Final = "inhalation"
_RAW: Final = "raw"  # raw material, API, TCM decoction pieces: no dosage form
_OTHER: Final = "other"
_ORAL: Final = frozenset({_OS, _OL})
_FORM_ZH: Final[Mapping[str, str]] = {
    _OS: "口服固体", _OL: "口服液体", _INJ: "注射剂", _TD: "透皮贴剂", _TOP: "外用", _INH: "吸入",
    _RAW: "原料药", _OTHER: "其他剂型",
}

Forms = frozenset[str]


def _f(*forms: str) -> Forms:
    return frozenset(forms)


# The base dosage form at the end of a Chinese product name. Bare 膏/霜/粉 are left out on purpose: they end
# listed substance names (麻黄浸膏, 砒霜, 红粉) and would be cut off them.
_ZH_BASE_FORMS: Final[Mapping[str, Forms]] = {
    "片": _f(_OS), "片剂": _f(_OS), "含片": _f(_OS), "舌下片": _f(_OS), "胶囊": _f(_OS), "胶囊剂": _f(_OS),
    "颗粒": _f(_OS), "颗粒剂": _f(_OS), "丸": _f(_OS), "丸剂": _f(_OS), "滴丸": _f(_OS), "散": _f(_OS),
    "散剂": _f(_OS), "干混悬剂": _f(_OS, _OL), "干糖浆": _f(_OS, _OL),
    "混悬剂": _f(_OL), "混悬液": _f(_OL), "滴剂": _f(_OL), "口服液": _f(_OL), "口服溶液": _f(_OL),
    "口服溶液剂": _f(_OL), "溶液": _f(_OL, _TOP), "溶液剂": _f(_OL, _TOP), "糖浆": _f(_OL), "糖浆剂": _f(_OL),
    "合剂": _f(_OL), "酊": _f(_OL, _TOP), "酊剂": _f(_OL, _TOP), "酏剂": _f(_OL), "乳剂": _f(_OL),
    "注射液": _f(_INJ), "注射剂": _f(_INJ), "针剂": _f(_INJ), "粉针": _f(_INJ), "粉针剂": _f(_INJ),
    "输液": _f(_INJ),
    "贴剂": _f(_TD), "贴片": _f(_TD), "透皮贴": _f(_TD),
    "贴膏": _f(_TOP), "膏药": _f(_TOP), "乳膏": _f(_TOP), "软膏": _f(_TOP), "眼膏": _f(_TOP),
    "凝胶": _f(_TOP), "搽剂": _f(_TOP), "洗剂": _f(_TOP), "涂剂": _f(_TOP), "滴眼液": _f(_TOP),
    "滴眼剂": _f(_TOP), "滴耳液": _f(_TOP), "滴耳剂": _f(_TOP), "滴鼻液": _f(_TOP), "滴鼻剂": _f(_TOP),
    "栓": _f(_TOP), "栓剂": _f(_TOP), "喷雾剂": _f(_TOP, _INH), "喷剂": _f(_TOP),
    "气雾剂": _f(_INH, _TOP), "吸入剂": _f(_INH), "粉雾剂": _f(_INH), "吸入粉雾剂": _f(_INH),
    "原料药": _f(_RAW), "原料": _f(_RAW), "饮片": _f(_RAW),
}
_ZH_BASE_BY_LENGTH: Final = tuple(sorted(_ZH_BASE_FORMS, key=len, reverse=True))

# Words before the base form: a route that overrides it (阴道片 is not taken by mouth) and the release type.
_ZH_MODIFIERS: Final[Mapping[str, tuple[Forms | None, bool]]] = {
    "缓释": (None, True), "控释": (None, True), "肠溶": (None, True), "迟释": (None, True),
    "长效": (None, True),
    "分散": (None, False), "咀嚼": (None, False), "泡腾": (None, False), "口崩": (None, False),
    "口腔崩解": (None, False), "薄膜衣": (None, False), "糖衣": (None, False), "普通": (None, False),
    "速释": (None, False), "混悬": (None, False), "软": (None, False), "硬": (None, False),
    "干": (None, False), "口服": (_ORAL, False), "注射用": (_f(_INJ), False), "吸入用": (_f(_INH), False),
    "吸入": (_f(_INH), False),
    "雾化": (_f(_INH), False), "外用": (_f(_TOP), False), "透皮": (_f(_TD), False), "阴道": (_f(_TOP), False),
    "直肠": (_f(_TOP), False), "眼用": (_f(_TOP), False), "鼻用": (_f(_TOP), False),
    "耳用": (_f(_TOP), False),
}
_ZH_MODIFIERS_BY_LENGTH: Final = tuple(sorted(_ZH_MODIFIERS, key=len, reverse=True))
# Words before the whole name: 复方 marks a compound; the others say the route or the patient group.
_ZH_PREFIXES: Final = ("复方", "注射用", "吸入用", "外用", "小儿", "儿童", "成人")

# English form words (RxNorm dose forms and formulary names). A word whose value is None is noise: it says
# nothing about the route but is never part of a substance name.
_EN_FORM_WORDS: Final[Mapping[str, Forms | None]] = {
    "tablet": _f(_OS), "tablets": _f(_OS), "tab": _f(_OS), "tabs": _f(_OS), "capsule": _f(_OS),
    "capsules": _f(_OS), "caplet": _f(_OS), "chewable": _f(_OS), "sublingual": _f(_OS), "buccal": _f(_OS),
    "lozenge": _f(_OS), "granules": _f(_OS), "pellet": _f(_OS), "pellets": _f(_OS),
    "oral": _ORAL, "orally": _ORAL, "solution": _f(_OL, _TOP), "suspension": _f(_OL), "syrup": _f(_OL),
    "elixir": _f(_OL), "drops": _f(_OL, _TOP), "tincture": _f(_OL, _TOP), "liquid": _f(_OL, _TOP),
    "liquids": _f(_OL, _TOP), "solid": _f(_OS), "solids": _f(_OS),
    "injection": _f(_INJ), "injectable": _f(_INJ), "injector": _f(_INJ), "syringe": None,
    "prefilled": _f(_INJ), "cartridge": _f(_INJ), "vial": _f(_INJ), "ampoule": _f(_INJ), "ampule": _f(_INJ),
    "intravenous": _f(_INJ), "intramuscular": _f(_INJ), "subcutaneous": _f(_INJ), "infusion": _f(_INJ),
    "pen": _f(_INJ), "transdermal": _f(_TD), "patch": _f(_TD), "patches": _f(_TD),
    "topical": _f(_TOP), "cream": _f(_TOP), "ointment": _f(_TOP), "gel": _f(_TOP), "lotion": _f(_TOP),
    "ophthalmic": _f(_TOP), "otic": _f(_TOP), "nasal": _f(_TOP), "vaginal": _f(_TOP), "rectal": _f(_TOP),
    "suppository": _f(_TOP), "shampoo": _f(_TOP), "foam": _f(_TOP), "spray": _f(_TOP), "eye": _f(_TOP),
    "inhalation": _f(_INH), "inhaler": _f(_INH), "inhalant": _f(_INH), "nebuliser": _f(_INH),
    "nebulizer": _f(_INH), "aerosol": _f(_INH, _TOP), "mucosal": _f(_OTHER),
    "api": _f(_RAW), "bulk": _f(_RAW),
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
    "ampoules": _f(_INJ), "ampules": _f(_INJ), "vials": _f(_INJ), "syringes": None, "injections": _f(_INJ),
    "infusions": _f(_INJ), "solutions": _f(_OL, _TOP), "suspensions": _f(_OL), "sachet": _f(_OS),
    "sachets": _f(_OS), "lozenges": _f(_OS), "pastilles": _f(_OS), "linctus": _f(_OL), "mixture": _f(_OL),
    "suppositories": _f(_TOP), "pessary": _f(_TOP), "pessaries": _f(_TOP), "enema": _f(_TOP),
    "cutaneous": _f(_TOP), "plaster": _f(_TOP), "plasters": _f(_TOP), "sprays": _f(_TOP), "creams": _f(_TOP),
    "gels": _f(_TOP), "ointments": _f(_TOP), "lotions": _f(_TOP), "inhalers": _f(_INH),
    "oromucosal": _f(_OTHER), "orodispersible": None, "soluble": None, "gastro": None, "resistant": None,
    "pressurised": None, "pressurized": None, "pre": None, "filled": None,
    "films": None, "sugar": None, "free": None, "of": None, "concentrate": None,
}
_EN_NAME_NOISE: Final = frozenset({"of", "concentrate"})  # noise after a form, part of some listed names
# The words a dictionary writes around a name ("Product containing precisely morphine … (clinical drug)",
# "Morphine-containing product", "Oral form morphine"): left out before the name is read at all.
_EN_DESCRIPTION_WORDS: Final = frozenset({
    "product", "products", "containing", "only", "precisely", "medicinal", "clinical", "drug", "real", "form",
    "forms", "conventional", "each", "in",
})
_EN_MODIFIED_RELEASE: Final = frozenset({
    "extended", "delayed", "sustained", "controlled", "prolonged", "modified", "er", "sr", "xr", "cr", "xl",
    "la",
    "dr", "enteric", "gastro", "resistant",
})
# Route words win over shape words in this order ("Injectable Suspension" is an injection).
_FORM_PRIORITY: Final = (_INJ, _INH, _TD, _TOP, _RAW, _OTHER)
_EN_COMPOUND_WORDS: Final = frozenset({"compound", "combination", "combinations"})
_EN_SEPARATOR_WORDS: Final = frozenset({"and", "with"})

# Salt and ester words removed from English names ("Oxycodone Hydrochloride" is oxycodone).
_EN_SALTS: Final = frozenset({
    "hydrochloride", "hcl", "dihydrochloride", "hydrobromide", "hbr", "sulfate", "sulphate", "bisulfate",
    "tartrate", "bitartrate", "hemitartrate", "citrate", "phosphate", "diphosphate", "besylate", "besilate",
    "maleate", "fumarate", "hemifumarate", "mesylate", "mesilate", "dimesylate", "succinate", "acetate",
    "lactate", "gluconate", "tosylate", "napsylate", "pamoate", "embonate", "bromide", "chloride", "nitrate",
    "carbonate", "oxalate", "hyclate", "xinafoate", "edisylate", "camsylate", "esylate", "isethionate",
    "valerate", "cypionate", "enanthate", "undecanoate", "benzoate", "sodium", "disodium", "potassium",
    "calcium", "magnesium", "monohydrate", "dihydrate", "trihydrate", "hemihydrate", "sesquihydrate",
    "hydrate",
    "anhydrous", "hydrogen", "dihydrogen", "aspartate", "saccharate", "adipate", "tannate", "polistirex",
})
# Acid-salt words before a Chinese name (盐酸羟考酮 is oxycodone), longest first so 硫酸氢 wins over 硫酸.
_ZH_SALT_PREFIXES: Final = tuple(sorted((
    "盐酸", "二盐酸", "氢溴酸", "氢碘酸", "硫酸", "硫酸氢", "重酒石酸", "酒石酸", "枸橼酸",
    "柠檬酸", "马来酸", "富马酸", "磷酸", "甲磺酸", "苯磺酸", "甲苯磺酸", "对甲苯磺酸", "琥珀酸",
    "醋酸", "乳酸", "硝酸", "葡萄糖酸",
    "门冬氨酸", "双羟萘酸", "草酸", "戊酸", "苯甲酸", "环戊丙酸", "庚酸", "十一酸", "水杨酸",
), key=len, reverse=True))
_ZH_CATION_SUFFIXES: Final = ("钠", "钾", "钙", "镁")
# Isomer prefixes: INN (dextro-, levo-, es-, ar-) and Chinese (右旋, 左旋, 艾司, 右, 左); single letters as
# separate words ("l-methadone"). A prefix only counts when what follows is a listed name.
_EN_ISOMER_PREFIXES: Final = ("dextro", "levo", "dex", "lev", "es", "ar")
_EN_ISOMER_WORDS: Final = frozenset({"d", "l", "dl", "r", "s", "rac"})
_ZH_ISOMER_PREFIXES: Final = ("右旋", "左旋", "消旋", "艾司", "右", "左")
_RACEMATE_EN: Final = ("race", "rac")
_RACEMATE_ZH: Final = ("消旋",)

# Units of strengths. Mass is converted to mg; a "/" unit makes a concentration or a rate.
_MASS_MG: Final[Mapping[str, Decimal]] = {
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
_OTHER_UNITS: Final[Mapping[str, tuple[str, Decimal]]] = {
    "ml": ("ml", Decimal(1)), "毫升": ("ml", Decimal(1)), "l": ("ml", Decimal(1000)),
    "iu": ("unit", Decimal(1)), "unt": ("unit", Decimal(1)), "unit": ("unit", Decimal(1)),
    "units": ("unit", Decimal(1)), "单位": ("unit", Decimal(1)), "万单位": ("unit", Decimal(10000)),
    "万u": ("unit", Decimal(10000)), "万iu": ("unit", Decimal(10000)), "meq": ("meq", Decimal(1)),
    "%": ("%", Decimal(1)), **_ML_SPELLINGS,
}
_DENOMINATORS: Final[Mapping[str, tuple[str, Decimal]]] = {
    "ml": ("ml", Decimal(1)), "毫升": ("ml", Decimal(1)), "l": ("ml", Decimal(1000)),
    "hr": ("hr", Decimal(1)),
    "h": ("hr", Decimal(1)), "hour": ("hr", Decimal(1)), "hours": ("hr", Decimal(1)),
    "actuat": ("actuat", Decimal(1)), "actuation": ("actuat", Decimal(1)), "actuations": ("actuat", Decimal(1)),
    "dose": ("actuat", Decimal(1)), "doses": ("actuat", Decimal(1)), "spray": ("actuat", Decimal(1)),
    "sprays": ("actuat", Decimal(1)), "puff": ("actuat", Decimal(1)), "puffs": ("actuat", Decimal(1)),
    "揿": ("actuat", Decimal(1)), "喷": ("actuat", Decimal(1)), **_ML_SPELLINGS,
}
_UNIT_ALTERNATIVES: Final = "|".join(
    re.escape(u) for u in sorted({*_MASS_MG, *_OTHER_UNITS}, key=len, reverse=True)
)
_DENOMINATOR_ALTERNATIVES: Final = "|".join(
    re.escape(u) for u in sorted(_DENOMINATORS, key=len, reverse=True)
)
_AMOUNT: Final = re.compile(
    rf"(?<![\w.])(\d{{1,9}}(?:\.\d{{1,9}})?)\s*({_UNIT_ALTERNATIVES})"
    rf"(?:\s*/\s*(\d{{1,9}}(?:\.\d{{1,9}})?)?\s*({_DENOMINATOR_ALTERNATIVES}))?(?![a-z])"
)
_PACK: Final = re.compile(r"[*×]\s*\d+\s*[片粒袋支瓶盒贴揿喷丸]?")
_PAREN: Final = re.compile(r"[(（【〔][^()（）【】〔〕]*[)）】〕]")
_PAREN_CONTENT: Final = re.compile(r"[(（]([^()（）]*)[)）]")
_BRACKETED: Final = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")
_ZH_KEEP: Final = re.compile(r"[^\w\[\]]|_")
_CJK: Final = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_THRESHOLD: Final = re.compile(r"(>=|<=|≥|≤|>|<)\s*(\d+(?:\.\d+)?)\s*mg")
_EXCEPT_MARKETED: Final = re.compile(r"EXCEPT\b.*approved for marketing", re.IGNORECASE)

# Nuclides of radiopharmaceuticals, as written in names ([131I], (18F), I-131, Tc-99m): a product naming one
# is a radioactive drug whether or not the list names the product.
_NUCLIDES: Final = frozenset({
    "18f", "99mtc", "131i", "125i", "123i", "67ga", "68ga", "201tl", "89sr", "223ra", "177lu", "90y", "153sm",
    "32p", "111in", "133xe", "11c", "14c", "13n", "15o", "82rb", "51cr", "57co", "58co", "169er", "186re",
    "188re",
})
_NUCLIDE_BRACKET: Final = re.compile(r"[\[(]\s*(\d{1,3}m?)\s*([a-z]{1,2})\s*[\])]")
_NUCLIDE_DASH: Final = re.compile(r"(?<![a-z])([a-z]{1,2})\s*-\s*(\d{1,3}m?)(?![\w])")
# English words: a nuclide ("131i", written I-131 or (131I)) is one word, so sodium iodide I-131 is never
# plain sodium iodide.
_EN_TOKEN: Final = re.compile(
    "(?:" + "|".join(sorted(_NUCLIDES, key=len, reverse=True)) + r")(?![a-z0-9])"
    r"|\d+(?:\.\d+)?|[^\W\d_]+|[/%+&;]"
)


def _compact_nuclides(folded: str) -> str:
    """I-131, (131I), [131I] → " 131i " in English text, so each spelling gives the same words."""
    def bracket(m: re.Match[str]) -> str:
        word = m.group(1) + m.group(2)
        return f" {word} " if word in _NUCLIDES else m.group(0)

    def dash(m: re.Match[str]) -> str:
        word = m.group(2) + m.group(1)
        return f" {word} " if word in _NUCLIDES else m.group(0)

    return _NUCLIDE_DASH.sub(dash, _NUCLIDE_BRACKET.sub(bracket, folded))

# Spelling differences and compound partners the lists do not spell out: INN / USAN (RxNorm) / Chinese
# approved names. The first English name is the one shown.
_BUILTIN_SUBSTANCES: Final[tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = (
    (("paracetamol", "acetaminophen", "apap"), ("对乙酰氨基酚", "扑热息痛")),
    (("ibuprofen",), ("布洛芬",)),
    (("naloxone",), ("纳洛酮",)),
    (("acetylsalicylic acid", "aspirin"), ("阿司匹林", "乙酰水杨酸")),
    (("chlorphenamine", "chlorpheniramine"), ("氯苯那敏", "扑尔敏")),
    (("guaifenesin", "guaiphenesin"), ("愈创木酚甘油醚", "愈创甘油醚")),
    (("promethazine",), ("异丙嗪",)),
    (("amantadine",), ("金刚烷胺",)),
    (("doxylamine",), ("多西拉敏",)),
    (("diphenhydramine",), ("苯海拉明",)),
    (("glycyrrhiza", "liquorice", "licorice"), ("甘草",)),
    (("platycodon",), ("桔梗",)),
    (("camphor",), ("樟脑",)),
    (("artificial bezoar",), ("人工牛黄",)),
    (("sodium benzoate",), ("苯甲酸钠",)),
    (("noscapine",), ("那可丁",)),
    (("clavulanic acid", "clavulanate"), ("克拉维酸",)),
    (("pethidine", "meperidine"), ("哌替啶", "度冷丁")),
    (("salbutamol", "albuterol"), ("沙丁胺醇",)),
    (("epinephrine", "adrenaline"), ("肾上腺素",)),
    (("scopolamine", "hyoscine"), ("东莨菪碱",)),
    (("valproic acid", "valproate"), ("丙戊酸",)),
    (("mesalazine", "mesalamine"), ("美沙拉秦", "美沙拉嗪")),
    (("glibenclamide", "glyburide"), ("格列本脲",)),
    (("benzylpenicillin", "penicillin g"), ("青霉素",)),
    (("dexamfetamine", "dextroamphetamine"), ("右苯丙胺",)),
    (("amfetamine", "amphetamine"), ("苯丙胺",)),
    (("insulin",), ("胰岛素",)),
)
# Abbreviations of Chinese compound names (《中国药品通用名称命名原则》): 氨酚 = 对乙酰氨基酚 …
_ZH_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "氨酚": "paracetamol", "洛芬": "ibuprofen", "待因": "codeine", "伪麻": "pseudoephedrine",
    "美芬": "dextromethorphan", "那敏": "chlorphenamine", "烷胺": "amantadine",
}
# Chinese compound names built from one-character abbreviations, which are never segmented on their own.
_ZH_COMPOUNDS: Final[Mapping[str, tuple[str, ...]]] = {
    "酚麻美敏": ("paracetamol", "pseudoephedrine", "dextromethorphan", "chlorphenamine"),
    "氨麻美敏": ("paracetamol", "pseudoephedrine", "dextromethorphan", "chlorphenamine"),
    "美扑伪麻": ("dextromethorphan", "chlorphenamine", "pseudoephedrine"),
    "氨咖黄敏": ("paracetamol", "caffeine", "artificial bezoar", "chlorphenamine"),
    "酚咖": ("paracetamol", "caffeine"),
    "可愈": ("codeine", "guaifenesin"),
    "阿桔": ("opium", "platycodon"),
    "安钠咖": ("caffeine", "sodium benzoate"),
}
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
# Glucose-lowering drugs by name, for items without an ATC code (insulins, GLP-1 agonists).
_GLUCOSE_LOWERING_ZH: Final = ("胰岛素", "鲁肽", "糖肽", "那肽", "替尔泊肽")
_GLUCOSE_LOWERING_EN: Final = ("insulin", "glutide", "enatide", "tirzepatide", "pramlintide")


# --- text helpers ---------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """NFKC (full-width to half-width), case-folded, cut to a sane length."""
    return unicodedata.normalize("NFKC", text[: _MAX_NAME_CHARS * 2]).casefold()[:_MAX_NAME_CHARS]


def _zh_key(folded: str) -> str:
    return _ZH_KEEP.sub("", folded)


def _has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def _en_words(folded: str) -> list[str]:
    return [t for t in _EN_TOKEN.findall(_compact_nuclides(folded)) if t not in "/%+&;"]


def _en_salt_free(words: Sequence[str]) -> list[str]:
    kept = [w for w in words if w not in _EN_SALTS]
    return kept if kept else list(words)


def _zh_salt_variants(key: str) -> list[str]:
    """``key`` without its acid-salt prefix or cation suffix (盐酸羟考酮 → 羟考酮, 华法林钠 → 华法林)."""
    variants: list[str] = []
    core = key
    changed = True
    while changed:
        changed = False
        for prefix in _ZH_SALT_PREFIXES:
            if core.startswith(prefix) and len(core) - len(prefix) >= 2:
                core = core[len(prefix):]
                changed = True
                break
    if core != key:
        variants.append(core)
    for suffix in _ZH_CATION_SUFFIXES:
        # 葡萄糖酸钙 is calcium: a cation after an acid name is the drug itself, not a salt of it.
        if core.endswith(suffix) and len(core) - 1 >= 2 and not core[:-1].endswith("酸"):
            variants.append(core[:-1])
            break
    return variants


def _strip_paren(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _PAREN.sub("", text)
    return text


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


Strength = tuple[Decimal, str]  # (value, kind): (5, "mg") per unit, (3, "mg/ml"), (800000, "unit")


def _amount(match: re.Match[str]) -> Strength | None:
    value = _decimal(match.group(1))
    if value is None:
        return None
    unit = match.group(2)
    if unit in _MASS_MG:
        value, kind = value * _MASS_MG[unit], "mg"
    else:
        kind, factor = _OTHER_UNITS[unit]
        value *= factor
    if match.group(4):
        den_kind, den_factor = _DENOMINATORS[match.group(4)]
        den = _decimal(match.group(3)) if match.group(3) else Decimal(1)
        if den is None or den == 0:
            return None
        value, kind = value / (den * den_factor), f"{kind}/{den_kind}"
    return value.normalize(), kind


def _amounts(folded: str) -> list[Strength]:
    return [a for m in _AMOUNT.finditer(folded) if (a := _amount(m)) is not None]


def _comparable(strengths: frozenset[Strength]) -> frozenset[Strength]:
    """The strengths that identify a product: a volume alone ("1 ML" of a 5 MG/ML injection) is a pack."""
    kept = frozenset(s for s in strengths if s[1] != "ml")
    return kept or strengths


def _combine_forms(found: Iterable[Forms]) -> Forms | None:
    """One form reading from several form words: a route word wins, else what the shape words agree on."""
    sets = [f for f in found if f]
    if not sets:
        return None
    for route in _FORM_PRIORITY:
        if any(f == {route} for f in sets):
            return _f(route)
    common = frozenset.intersection(*sets)
    return common if common else frozenset.union(*sets)


def _forms_compatible(a: Forms | None, b: Forms | None) -> bool:
    return a is None or b is None or bool(a & b)


def _nuclide_in(folded: str) -> str | None:
    for m in _NUCLIDE_BRACKET.finditer(folded):
        if m.group(1) + m.group(2) in _NUCLIDES:
            return f"{m.group(1)}{m.group(2)}"
    for m in _NUCLIDE_DASH.finditer(folded):
        if m.group(2) + m.group(1) in _NUCLIDES:
            return f"{m.group(1)}-{m.group(2)}"
    return None


def _pair(zh: str, en: str) -> str:
    return f"{zh} / {en}"


# --- the substance lexicon ------------------------------------------------------------------------------


class _Lexicon:
    """Every known substance name (English and Chinese, with and without salt words) → one substance id."""

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._en: dict[str, int] = {}
        self._zh: dict[str, int] = {}
        self._best_en: dict[int, tuple[int, int, str]] = {}
        self._best_zh: dict[int, tuple[int, int, str]] = {}
        # Keys that are a name as written, not another name's salt-stripped variant, per table.
        self._primary: dict[int, set[str]] = {id(self._en): set(), id(self._zh): set()}
        self._trusted: set[int] = set()  # substances the lists or the built-in table name
        self._order = 0
        # filled by freeze()
        self.en: dict[str, int] = {}
        self.zh: dict[str, int] = {}
        self.display_en: dict[int, str] = {}
        self.display_zh: dict[int, str] = {}
        self.names: dict[int, tuple[str, ...]] = {}
        self.zh_vocabulary: dict[str, tuple[int, ...]] = {}
        self.zh_longest = 0
        self.en_vocabulary: dict[str, tuple[int, ...]] = {}
        self.en_longest = 0

    def _find(self, sid: int) -> int:
        while self._parent[sid] != sid:
            self._parent[sid] = self._parent[self._parent[sid]]
            sid = self._parent[sid]
        return sid

    @staticmethod
    def en_keys(name: str) -> list[str]:
        """The name's key (its words), then its key without salt words."""
        words = _en_words(_fold(name))
        if not words:
            return []
        keys = [" ".join(words)]
        stripped = " ".join(_en_salt_free(words))
        if stripped != keys[0]:
            keys.append(stripped)
        return keys

    @staticmethod
    def zh_keys(name: str) -> list[str]:
        """The name's key, then its variants: without salt words, without γ-, with a cation after an acid."""
        key = _zh_key(_fold(name))
        if not key:
            return []
        keys = [key, *_zh_salt_variants(key)]
        for greek in ("γ", "gamma"):  # γ-羟丁酸 is written 羟丁酸 too
            if key.startswith(greek) and len(key) - len(greek) >= 2:
                keys.append(key[len(greek):])
        for acid in list(keys):
            if acid.endswith("酸"):  # a listed acid covers its salts: 羟丁酸钠, 夫西地酸钠
                keys.extend(acid + cation for cation in _ZH_CATION_SUFFIXES)
        return list(dict.fromkeys(keys))

    def add(self, en: Iterable[str], zh: Iterable[str], *, priority: int, trusted: bool) -> int | None:
        """Register names of one substance; ``None`` when untrusted names would join two known substances."""
        en_names = [n for n in en if n.strip()]
        zh_names = [n for n in zh if n.strip()]
        keyed = [(self._en, k, i == 0) for n in en_names for i, k in enumerate(self.en_keys(n))]
        keyed += [(self._zh, k, i == 0) for n in zh_names for i, k in enumerate(self.zh_keys(n))]
        if not keyed:
            return None
        found: set[int] = set()
        for table, key, exact in keyed:
            if key in table:
                root = self._find(table[key])
                # A formulary name meets a known one as written, or a listed substance by its salt-stripped
                # variant; never another formulary name by a variant: 硝酸甘油 strips to 甘油 (glycerol).
                # A missed meeting makes a drug unknown (fail closed); a false one would mislabel it.
                if trusted or root in self._trusted or (exact and key in self._primary[id(table)]):
                    found.add(root)
        if not trusted and len(found) > 1:
            # A formulary row pairing two names we know as different substances is a data error (columns in a
            # different order); joining them would give one drug the other's list rows.
            return None
        if found:
            sid = found.pop()
            for other in found:
                self._parent[self._find(other)] = sid
        else:
            sid = len(self._parent)
            self._parent.append(sid)
        if trusted:
            self._trusted.add(sid)
        for table, key, exact in keyed:
            primary = self._primary[id(table)]
            if exact and key not in primary:
                table[key] = sid  # a name as written wins over another name's salt-stripped variant
                primary.add(key)
            else:
                table.setdefault(key, sid)
        for name in en_names:
            self._order += 1
            display = " ".join(_fold(name).split())
            if display:
                self._best_en.setdefault(sid, (priority, self._order, display))
                self._best_en[sid] = min(self._best_en[sid], (priority, self._order, display))
        for name in zh_names:
            self._order += 1
            display = unicodedata.normalize("NFKC", name).strip()
            self._best_zh.setdefault(sid, (priority, self._order, display))
            self._best_zh[sid] = min(self._best_zh[sid], (priority, self._order, display))
        return sid

    def freeze(self, abbreviations: Mapping[str, str]) -> None:
        """Resolve every key to its substance and build the vocabularies compound names are cut into."""
        self.en = {k: self._find(s) for k, s in self._en.items()}
        self.zh = {k: self._find(s) for k, s in self._zh.items()}
        for sid, (_, _, name) in sorted(self._best_en.items(), key=lambda item: item[1]):
            self.display_en.setdefault(self._find(sid), name)
        for sid, (_, _, name) in sorted(self._best_zh.items(), key=lambda item: item[1]):
            self.display_zh.setdefault(self._find(sid), name)
        names: dict[int, list[str]] = {}
        for sid, name in (*self.display_en.items(), *self.display_zh.items()):
            names.setdefault(sid, []).append(name)
        self.names = {sid: tuple(dict.fromkeys(n)) for sid, n in names.items()}
        self.zh_vocabulary = {k: (s,) for k, s in self.zh.items() if len(k) >= 2}
        for short, en_name in abbreviations.items():
            meant = self.lookup_en(en_name)
            if meant is not None:
                self.zh_vocabulary.setdefault(short, (meant,))
        self.zh_longest = max((len(k) for k in self.zh_vocabulary), default=0)
        self.en_vocabulary = {k: (s,) for k, s in self.en.items()}
        self.en_longest = max((k.count(" ") + 1 for k in self.en_vocabulary), default=0)

    def lookup_en(self, name: str) -> int | None:
        for key in self.en_keys(name):
            if key in self.en:
                return self.en[key]
        return None

    def lookup_zh(self, name: str) -> int | None:
        key = _zh_key(_fold(name))
        return self.zh.get(key)

    def display(self, sid: int) -> str:
        return self.display_en.get(sid) or self.display_zh.get(sid) or f"#{sid}"

    def bilingual(self, sid: int) -> tuple[str, str]:
        """(Chinese, English) names for evidence, each falling back to the other."""
        en = self.display_en.get(sid)
        zh = self.display_zh.get(sid)
        return (f"{zh} ({en})" if zh and en else zh or en or f"#{sid}"), (en or zh or f"#{sid}")


# --- readings of one clue ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ingredient:
    name: str  # shown: the substance's English name where known, else the name as written
    sid: int | None  # the substance, when the lexicon knows it
    listed: int | None  # the substance whose list rows apply: sid itself, or the parent of an isomer
    relation: str  # "" the substance itself, "isomer" an isomer of ``listed``
    amount_mg: Decimal | None = None  # per dose unit, when stated


@dataclass(frozen=True, slots=True)
class _Reading:
    """What one clue (a name, the formulary entry, an ATC code…) says the drug is."""

    source: str  # "formulary", "name", "ingredients", "atc"
    label: str  # the clue as written, for evidence
    ingredients: tuple[_Ingredient, ...]
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


_EMPTY_READING_KEY: Final = ""  # a clue without a product name: never found in the formulary's name index


# --- list rows, interpreted ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SubstanceRule:
    entry: SpecialDrugEntry
    forms: Forms | None  # for some forms only (丁丙诺啡透皮贴剂, 咪达唑仑原料药及注射剂); None = any
    raw_only: bool  # only the raw material is listed (western toxic list, "EXCEPT marketed preparations")
    topical_exempt: bool  # online-sale ban of an antimicrobial: topical forms are not banned


@dataclass(frozen=True, slots=True)
class _NamedRule:
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


_NameFacts = tuple[str, frozenset[str], str | None]  # a name's Chinese key, its English words, a radionuclide


@dataclass(frozen=True, slots=True)
class _Hit:
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


# --- the classifier -----------------------------------------------------------------------------------


class Classifier:
    """Resolves items to the formulary and the special-drug lists. Build once; ``classify`` is fast, pure."""

    def __init__(self, formulary: Sequence[FormularyEntry], special: SpecialDrugList) -> None:
        self.special = special
        self._lex = _Lexicon()
        self._zh_compounds: dict[str, tuple[int, ...]] = {}
        self._iso_parent_en: dict[str, int] = {}
        self._iso_parent_zh: dict[str, int] = {}
        self._isomer_of: dict[int, int] = {}
        self._family_root: dict[int, int] = {}
        self._substance_rules: dict[int, list[_SubstanceRule]] = {}
        self._named_by_key: dict[tuple[str, bool], list[_NamedRule]] = {}
        self._named_by_set: dict[frozenset[int], list[_NamedRule]] = {}
        self._class_rules: list[_ClassRule] = []
        self._group_rules: list[_GroupRule] = []
        self._named_name_rules: dict[str, list[SpecialDrugEntry]] = {}
        self._atc_of: dict[int, set[str]] = {}
        self._parse_cache: dict[str, _Reading] = {}
        self._facts_cache: dict[str, _NameFacts] = {}
        self._cache: dict[tuple[Concept, tuple[Concept, ...], str | None], DrugClassification] = {}

        kinds = [(entry, self._row_kind(entry)) for entry in special.entries]
        for entry, kind in kinds:
            self._register_row_names(entry, kind)
        for en_names, zh_names in _BUILTIN_SUBSTANCES:
            self._lex.add(en_names, zh_names, priority=1, trusted=True)
        for fe in formulary:
            self._register_formulary_names(fe)
        self._lex.freeze(_ZH_ABBREVIATIONS)
        for short, members in _ZH_COMPOUNDS.items():
            sids = tuple(s for m in members if (s := self._lex.lookup_en(m)) is not None)
            if len(sids) == len(members):
                self._zh_compounds[short] = sids
        for entry, kind in kinds:
            if entry.atc_code and kind in ("substance", "form", "all"):
                for sid in self._row_sids(entry):
                    self._atc_of.setdefault(sid, set()).add(entry.atc_code)
        # Substances first: a named preparation's controlled ingredients are known once every substance is.
        order = {"substance": 0, "form": 0, "all": 0, "named": 1}
        for entry, kind in sorted(kinds, key=lambda k: order.get(k[1], 2)):
            self._interpret_row(entry, kind)
        self._find_isomers()
        for fe in formulary:
            if fe.atc and len(fe.atc) == 7:
                names = (*fe.ingredients_en, *fe.ingredients_zh, fe.generic_en or "", fe.generic_zh or "")
                for name in names:
                    named = self._single_sid(name)
                    if named is not None and len(fe.ingredients_en or fe.ingredients_zh) <= 1:
                        self._atc_of.setdefault(named, set()).add(fe.atc)
        self._entries = tuple(self._entry_reading(fe) for fe in formulary)
        self._by_code: dict[str, int] = {}
        self._by_code_folded: dict[str, int] = {}
        self._by_product: dict[str, list[int]] = {}
        self._by_atc: dict[str, list[int]] = {}
        self._by_sids: dict[frozenset[int], list[int]] = {}
        for index, (fe, reading) in enumerate(self._entries):
            self._by_code.setdefault(fe.code, index)
            self._by_code_folded.setdefault(_fold(fe.code).strip(), index)
            for name in (fe.name_zh, fe.name_en or ""):
                key = self._product_key(_fold(name))
                if key:
                    self._by_product.setdefault(key, []).append(index)
            if fe.atc and len(fe.atc) == 7:
                self._by_atc.setdefault(fe.atc, []).append(index)
            entry_sids = reading.sids
            if entry_sids:
                self._by_sids.setdefault(entry_sids, []).append(index)
        self._atc_readings = self._build_atc_readings()

    # --- building: the lists -----------------------------------------------------------------------

    @staticmethod
    def _row_kind(entry: SpecialDrugEntry) -> str:
        """How a row is read: "substance", "form" (a substance in some forms), "named", "class" or "all"."""
        zh = unicodedata.normalize("NFKC", entry.name_zh).strip()
        main = _strip_paren(zh)
        en = _fold(entry.name_en)
        if main.endswith("及其制剂"):
            return "all"
        if "制剂" in main or "整类" in zh or en.endswith("(class)"):
            return "class"
        rxnorm = entry.rxnorm_ingredients()
        alternatives = split_list_cell(main)
        en_main = _strip_paren(en)
        compound_en = bool(re.search(r"\s(and|/)\s", en_main)) and "和" not in main
        if len(rxnorm) > 1 or len(alternatives) > 1 or compound_en or main.startswith("复方"):
            return "named"
        key = _zh_key(_fold(main))
        for base in _ZH_BASE_BY_LENGTH:
            if key.endswith(base) and len(key) - len(base) >= 2:
                return "form"
        if _fold(main).endswith(("原料药及注射剂",)):
            return "form"
        return "substance"

    def _register_row_names(self, entry: SpecialDrugEntry, kind: str) -> None:
        rxnorm = entry.rxnorm_ingredients()
        if kind in ("named", "class"):
            # Ingredient names the row spells (acetaminophen, naloxone…): known as substances from now on.
            for name in rxnorm:
                self._lex.add((name,), (), priority=2, trusted=True)
            return
        zh_names, en_names = self._row_substance_names(entry, kind)
        if "和" in _strip_paren(entry.name_zh) and len(zh_names) > 1:
            # 大麻和大麻树脂 / cannabis and cannabis resin: two substances, one row.
            for zh, en in zip(zh_names, en_names):
                self._lex.add((en,), (zh,), priority=0, trusted=True)
            return
        self._lex.add([*en_names, *rxnorm], zh_names, priority=0, trusted=True)

    @staticmethod
    def _row_substance_names(entry: SpecialDrugEntry, kind: str) -> tuple[list[str], list[str]]:
        """(Chinese names, English names) of a substance row: main names, alternates in parentheses."""
        zh_full = unicodedata.normalize("NFKC", entry.name_zh).strip()
        zh_main = _strip_paren(zh_full).strip()
        if kind == "all":
            zh_main = zh_main[: -len("及其制剂")]
        zh_names: list[str] = []
        en_extra: list[str] = []
        for part in re.split(r"和", zh_main) if "和" in zh_main else [zh_main]:
            if part:
                zh_names.append(part)
        for content in _PAREN_CONTENT.findall(zh_full):
            for alt in re.split(r"[、,，/]", content):
                alt = alt.strip()
                if not alt or re.search(r"\d|含|每|如|不|整类|除外", alt):
                    continue
                (zh_names if _has_cjk(alt) else en_extra).append(alt)
        if kind == "form":
            # "碘[131I]化钠口服溶液/胶囊": the substance is the first alternative without its form.
            zh_names = [Classifier._strip_zh_form_word(n.split("/")[0]) for n in zh_names]
        en_full = _fold(entry.name_en)
        # Isotopes in parentheses are part of the name: "sodium iodide (131I)" is not sodium iodide.
        en_full = _compact_nuclides(en_full)
        en_main = _strip_paren(en_full).strip()
        en_names = [p.strip() for p in re.split(r"\s+and\s+", en_main)] if "和" in zh_main else [en_main]
        if kind == "form":
            en_names = [" ".join(w for w in n.split() if w not in _EN_FORM_WORDS) for n in en_names]
        for content in _PAREN_CONTENT.findall(en_full):
            words = _en_words(content)
            if words and not any(w in _EN_FORM_WORDS or w in {"and", "other", "forms", "single", "ingredient",
                                                               "crude", "class", "e", "g", "contain", "unit"}
                                 for w in words) and not re.search(r"\d", content) and not _has_cjk(content):
                en_extra.append(content)
        return zh_names, [n for n in (*en_names, *en_extra) if n]

    @staticmethod
    def _strip_zh_form_word(name: str) -> str:
        key = _ZH_KEEP.sub("", unicodedata.normalize("NFKC", name))  # case kept: it is also shown
        if key.endswith("原料药及注射剂"):
            return key[: -len("原料药及注射剂")]
        for base in _ZH_BASE_BY_LENGTH:
            if key.endswith(base) and len(key) - len(base) >= 2:
                core = key[: -len(base)]
                for modifier in _ZH_MODIFIERS_BY_LENGTH:
                    if core.endswith(modifier) and len(core) - len(modifier) >= 2:
                        core = core[: -len(modifier)]
                        break
                return core
        return key

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

    def _row_sids(self, entry: SpecialDrugEntry) -> list[int]:
        sids: list[int] = []
        zh_names, en_names = self._row_substance_names(entry, self._row_kind(entry))
        for name in (*entry.rxnorm_ingredients(), *en_names):
            sid = self._lex.lookup_en(name)
            if sid is not None and sid not in sids:
                sids.append(sid)
        for name in zh_names:
            sid = self._lex.lookup_zh(name)
            if sid is not None and sid not in sids:
                sids.append(sid)
        return sids

    def _interpret_row(self, entry: SpecialDrugEntry, kind: str) -> None:
        if kind in ("substance", "form", "all"):
            self._interpret_substance_row(entry, kind)
        elif kind == "named":
            self._interpret_named_row(entry)
        else:
            self._interpret_class_row(entry)

    def _interpret_substance_row(self, entry: SpecialDrugEntry, kind: str) -> None:
        forms: Forms | None = None
        if kind == "form":
            key = _zh_key(_fold(_strip_paren(entry.name_zh)))
            if key.endswith("原料药及注射剂"):
                forms = _f(_RAW, _INJ)
            else:
                found: list[Forms] = []
                for alternative in unicodedata.normalize("NFKC", _strip_paren(entry.name_zh)).split("/"):
                    bare = _zh_key(_fold(alternative))
                    if bare in _ZH_BASE_FORMS:  # "…口服溶液/胶囊": another form of the same substance
                        found.append(_ZH_BASE_FORMS[bare])
                        continue
                    reading = self._parse_zh(alternative, _fold(alternative))
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
        rule = _SubstanceRule(entry, forms, raw_only, topical_exempt)
        for sid in self._row_sids(entry):
            self._substance_rules.setdefault(sid, []).append(rule)

    def _interpret_named_row(self, entry: SpecialDrugEntry) -> None:
        """One rule per preparation the row names ("复方樟脑酊；阿桔片" names two), each with its forms."""
        stated: list[int] = []
        all_known = True
        for name in entry.rxnorm_ingredients():
            sid = self._lex.lookup_en(name)
            if sid is None:
                all_known = False
            elif sid not in stated:
                stated.append(sid)
        row_compound = (len(entry.rxnorm_ingredients()) > 1
                        or re.search(r"\s(and|/)\s", _fold(entry.name_en)) is not None)
        alternatives = split_list_cell(_strip_paren(unicodedata.normalize("NFKC", entry.name_zh)))
        en_reading = self._parse_en(entry.name_en, _fold(entry.name_en))
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
                bare = _zh_key(_fold(part))
                if keys and bare in _ZH_BASE_FORMS:  # "…溶液/糖浆": another form of the same preparation
                    forms_found.append(_ZH_BASE_FORMS[bare])
                    continue
                reading = self._parse_zh(part, _fold(part))
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
            controlled = tuple(s for s in sorted(sids) if self._is_controlled(s))
            rule = _NamedRule(entry, frozenset((k, compound) for k in keys), forms,
                              frozenset(sids) if all_known and sids else None, amounts, controlled,
                              tuple(stated))
            for key in rule.keys:
                self._named_by_key.setdefault(key, []).append(rule)
            if rule.sids is not None and len(rule.sids) >= 2:
                self._named_by_set.setdefault(rule.sids, []).append(rule)

    def _interpret_class_row(self, entry: SpecialDrugEntry) -> None:
        zh = unicodedata.normalize("NFKC", entry.name_zh).strip()
        main = _strip_paren(zh).strip()
        threshold = _THRESHOLD.search(zh)
        group = _GROUP_CLASSES.get(main)
        if group is not None:
            self._group_rules.append(_GroupRule(entry, None, *group))
            return
        base = _zh_key(_fold(main))
        if base in _ZH_BASE_FORMS:  # 注射剂（降糖类药物除外）: a dosage-form class
            excluded: list[str] = []
            for content in _PAREN_CONTENT.findall(zh):
                for word, prefixes in _EXCLUSIONS.items():
                    if word in content and "除外" in content:
                        excluded.extend(prefixes)
            self._group_rules.append(_GroupRule(entry, _ZH_BASE_FORMS[base], (), (), (), tuple(excluded)))
            return
        if not main.endswith("制剂") or not ("复方" in main or "单方" in main):
            self._named_name_rules.setdefault(_zh_key(_fold(main)), []).append(entry)
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
                if self._row_kind(other) == "substance" and _strip_paren(other.name_zh).endswith(subject):
                    family.update(self._row_sids(other))
            if not family:
                self._named_name_rules.setdefault(_zh_key(_fold(main)), []).append(entry)
                return
        elif category is None:
            for part in subject.split("和"):
                sid = self._single_sid(part)
                if sid is None:
                    rx = entry.rxnorm_ingredients()
                    sid = self._lex.lookup_en(rx[0]) if len(rx) == 1 and "和" not in subject else None
                if sid is None:
                    # A class naming something we cannot resolve matches its own name only.
                    self._named_name_rules.setdefault(_zh_key(_fold(main)), []).append(entry)
                    return
                substances.add(sid)
        state = "solid" if "固体" in body else "liquid" if "液体" in body else None
        self._class_rules.append(_ClassRule(
            entry=entry,
            single="单方" in body,
            substances=frozenset(substances),
            member_category=category,
            family=frozenset(family),
            oral="口服" in body,
            state=state,
            op=threshold.group(1) if threshold else None,
            limit_mg=_decimal(threshold.group(2)) if threshold else None,
        ))

    def _single_sid(self, name: str) -> int | None:
        if not name.strip():
            return None
        folded = _fold(name)
        if _has_cjk(folded):
            key = _zh_key(folded)
            for variant in (key, *_zh_salt_variants(key)):
                if variant in self._lex.zh:
                    return self._lex.zh[variant]
            return None
        return self._lex.lookup_en(name)

    def _find_isomers(self) -> None:
        """Which known substances are isomers of listed ones, and the names isomers are derived from."""
        lex = self._lex
        listed = {sid for sid, rules in self._substance_rules.items()
                  if any(r.entry.category in _ISOMER_CATEGORIES for r in rules)}
        for key, sid in lex.en.items():
            if sid in listed:
                self._iso_parent_en.setdefault(key, sid)
                for race in _RACEMATE_EN:  # racemethorphan: its enantiomers levomethorphan, dextromethorphan
                    if key.startswith(race) and len(key) - len(race) >= 4:
                        self._iso_parent_en.setdefault(key[len(race):], sid)
        for key, sid in lex.zh.items():
            if sid in listed:
                self._iso_parent_zh.setdefault(key, sid)
                for race in _RACEMATE_ZH:
                    if key.startswith(race) and len(key) - len(race) >= 2:
                        self._iso_parent_zh.setdefault(key[len(race):], sid)
        # Listed isomers of a listed parent (右苯丙胺 of 苯丙胺): one substance when they meet in one product.
        for key, sid in lex.en.items():
            if sid in listed and sid not in self._family_root:
                parent = self._isomer_parent_en(key.split(" "))
                if parent is not None and parent != sid:
                    self._family_root[sid] = parent
        for key, sid in lex.en.items():
            if sid not in listed and sid not in self._isomer_of:
                parent = self._isomer_parent_en(key.split(" "))
                if parent is not None and parent != sid:
                    self._isomer_of[sid] = parent
        for key, sid in lex.zh.items():
            if sid not in listed and sid not in self._isomer_of:
                parent = self._isomer_parent_zh(key)
                if parent is not None and parent != sid:
                    self._isomer_of[sid] = parent

    def _isomer_parent_en(self, words: Sequence[str]) -> int | None:
        if not words:
            return None
        first, rest = words[0], list(words[1:])
        if first in _EN_ISOMER_WORDS and rest:
            key = " ".join(rest)
            return self._iso_parent_en.get(key)
        for prefix in _EN_ISOMER_PREFIXES:
            if first.startswith(prefix) and len(first) - len(prefix) >= 4:
                key = " ".join([first[len(prefix):], *rest])
                if key in self._iso_parent_en:
                    return self._iso_parent_en[key]
        return None

    def _isomer_parent_zh(self, key: str) -> int | None:
        for prefix in _ZH_ISOMER_PREFIXES:
            if key.startswith(prefix) and len(key) - len(prefix) >= 2:
                base = key[len(prefix):]
                for variant in (base, *_zh_salt_variants(base)):
                    if variant in self._iso_parent_zh:
                        return self._iso_parent_zh[variant]
        return None

    # --- building: the formulary -------------------------------------------------------------------

    def _entry_reading(self, fe: FormularyEntry) -> tuple[FormularyEntry, _Reading]:
        zh_reading = self._parse_name(fe.name_zh)
        en_reading = self._parse_name(fe.name_en) if fe.name_en else None
        ingredients: list[_Ingredient] = []
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
            found: _Ingredient | None = None
            for name in candidates:
                parsed = self._parse_name(name)
                if len(parsed.ingredients) == 1 and (parsed.ingredients[0].listed is not None
                                                     or parsed.ingredients[0].sid is not None):
                    found = parsed.ingredients[0]
                    break
            if found is None:
                resolved = False
                shown = _fold(candidates[0]).strip() if candidates else ""
                if shown:
                    ingredients.append(_Ingredient(shown, None, None, ""))
            else:
                ingredients.append(found)
        if not ingredients:
            # No ingredient columns: what the product name says.
            for reading in (zh_reading, en_reading):
                if reading is not None and reading.ingredients:
                    ingredients = list(reading.ingredients)
                    resolved = reading.resolved
                    break
        strengths = frozenset(_amounts(_fold(fe.strength or "")))
        per_unit = [a for a in _amounts(_fold(fe.strength or "")) if a[1] == "mg"]
        if len(per_unit) == len(ingredients) and ingredients:
            ingredients = [replace(ing, amount_mg=amount[0]) for ing, amount in zip(ingredients, per_unit)]
        form_reading = self._parse_form(fe.dosage_form) if fe.dosage_form else (None, None)
        forms = form_reading[0] or zh_reading.forms or (en_reading.forms if en_reading else None)
        release = zh_reading.release or (en_reading.release if en_reading else None) or form_reading[1]
        compound = len(ingredients) > 1 or zh_reading.compound or "compound" in _fold(fe.generic_en or "")
        reading = _Reading(
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

    def _build_atc_readings(self) -> dict[str, tuple[_Reading, ...]]:
        found: dict[str, dict[tuple[frozenset[int], bool], _Reading]] = {}

        def add(atc: str, sids: Sequence[int], compound: bool) -> None:
            ingredients = tuple(self._ingredient(s) for s in sids)
            reading = _Reading("atc", atc, ingredients, compound, None, None, frozenset(), _EMPTY_READING_KEY,
                               None, True)
            found.setdefault(atc, {}).setdefault((frozenset(sids), compound), reading)

        for sid, rules in self._substance_rules.items():
            for rule in rules:
                if rule.entry.atc_code and len(rule.entry.atc_code) == 7:
                    add(rule.entry.atc_code, (sid,), False)
        for sids_key, named in self._named_by_set.items():
            for named_rule in named:
                if named_rule.entry.atc_code and len(named_rule.entry.atc_code) == 7:
                    add(named_rule.entry.atc_code, sorted(sids_key), True)
        for crule in self._class_rules:
            if crule.entry.atc_code and len(crule.entry.atc_code) == 7 and crule.substances:
                add(crule.entry.atc_code, sorted(crule.substances), not crule.single)
        for fe, reading in self._entries:
            if fe.atc and len(fe.atc) == 7 and reading.sids:
                add(fe.atc, sorted(reading.sids), reading.compound)
        return {atc: tuple(readings.values()) for atc, readings in found.items()}

    # --- parsing names -----------------------------------------------------------------------------

    def _parse_name(self, text: str) -> _Reading:
        cached = self._parse_cache.get(text)
        if cached is not None:
            return cached
        folded = _fold(text)
        if _has_cjk(folded):
            reading = self._parse_mixed(text, folded)
        else:
            reading = self._parse_en(text, folded)
        if len(self._parse_cache) >= _CACHE_LIMIT:
            self._parse_cache.clear()
        self._parse_cache[text] = reading
        return reading

    def _parse_mixed(self, text: str, folded: str) -> _Reading:
        """A Chinese name, perhaps with an English one beside it ("盐酸羟考酮缓释片 Oxycodone HCl ER")."""
        parts = folded.split()
        latin = [p for p in parts if not _has_cjk(p)]
        reading = self._parse_zh(text, folded)
        latin_text = " ".join(latin)
        if not reading.ingredients and len(_en_words(_AMOUNT.sub(" ", latin_text))) >= 1:
            english = self._parse_en(text, latin_text)
            if english.ingredients and english.resolved:
                return replace(english, product_key=reading.product_key, core_key=reading.core_key,
                               forms=reading.forms or english.forms)
        return reading

    def _parse_zh(self, text: str, folded: str) -> _Reading:
        amounts = _amounts(folded)
        # English words beside a Chinese name are read separately (_parse_mixed); 碳酸钙D3 keeps its D3.
        body = " ".join(p for p in folded.split() if _has_cjk(p) or not re.search(r"[^\W\d_]{2,}", p))
        body = _PACK.sub(" ", _AMOUNT.sub(" ", body))
        body = _strip_paren(body) or body
        key = _zh_key(body)
        product_key = self._product_key(folded)
        compound = False
        prefix_forms: list[Forms] = []
        changed = True
        while changed and key:
            changed = False
            for prefix in _ZH_PREFIXES:
                if key.startswith(prefix) and len(key) - len(prefix) >= 2:
                    key = key[len(prefix):]
                    changed = True
                    route = _ZH_MODIFIERS.get(prefix, (None, False))[0]
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
            stripped, forms, release = self._strip_zh_form(core)
            if stripped != core:
                core = stripped
                resolution = self._resolve_zh(core)
        if prefix_forms:
            forms = _combine_forms([*prefix_forms, *([forms] if forms else [])])
        if resolution is None:
            ingredients: tuple[_Ingredient, ...] = ()
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
        return _Reading(
            source="name",
            label=unicodedata.normalize("NFKC", text).strip()[:_MAX_NAME_CHARS],
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
    def _strip_zh_form(core: str) -> tuple[str, Forms | None, str | None]:
        for base in _ZH_BASE_BY_LENGTH:
            if core.endswith(base) and len(core) - len(base) >= 2:
                rest = core[: -len(base)]
                forms: list[Forms] = [_ZH_BASE_FORMS[base]]
                release: str | None = "immediate"
                changed = True
                while changed:
                    changed = False
                    for modifier in _ZH_MODIFIERS_BY_LENGTH:
                        if rest.endswith(modifier) and len(rest) - len(modifier) >= 2:
                            rest = rest[: -len(modifier)]
                            route, modified = _ZH_MODIFIERS[modifier]
                            if route is not None:
                                forms.append(route)
                            if modified:
                                release = "modified"
                            changed = True
                            break
                return rest, _combine_forms(forms), release
        return core, None, None

    def _resolve_zh(self, core: str) -> tuple[tuple[_Ingredient, ...], str] | None:
        """The ingredients a whole Chinese core name stands for, and the key it was found under."""
        if not core:
            return None
        lex = self._lex
        for variant in (core, *_zh_salt_variants(core)):
            sid = lex.zh.get(variant)
            if sid is not None:
                return (self._ingredient(sid),), variant
            members = self._zh_compounds.get(variant)
            if members is not None:
                return tuple(self._ingredient(s) for s in members), variant
        parent = self._isomer_parent_zh(core)
        if parent is not None:
            return (_Ingredient(core, None, parent, "isomer"),), core
        segments = self._segment_zh(core)
        if segments is not None:
            return tuple(self._ingredient(s) for s in segments), core
        return None

    def _segment_zh(self, core: str) -> list[int] | None:
        """``core`` as two or more whole known names (氨酚羟考酮 = 氨酚 + 羟考酮), or None."""
        vocabulary = self._lex.zh_vocabulary
        longest = self._lex.zh_longest
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

    def _ingredient(self, sid: int) -> _Ingredient:
        parent = self._isomer_of.get(sid)
        if parent is not None:
            return _Ingredient(self._lex.display(sid), sid, parent, "isomer")
        return _Ingredient(self._lex.display(sid), sid, sid, "")

    def _parse_en(self, text: str, folded: str) -> _Reading:
        product_key = self._product_key(folded)
        s = _BRACKETED.sub(" ", folded)
        s = _compact_nuclides(s)
        s = _strip_paren(s)
        tokens = [t for t in _EN_TOKEN.findall(s) if t not in _EN_DESCRIPTION_WORDS]
        segments: list[list[tuple[str, str]]] = [[]]  # (kind, token): kind "num", "unit", "den", "word"
        for i, token in enumerate(tokens):
            previous = segments[-1][-1] if segments[-1] else None
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if token in _NUCLIDES:
                segments[-1].append(("word", token))
            elif token[0].isdigit():
                segments[-1].append(("num", token))
            elif token == "/" and previous is not None and previous[0] in ("num", "unit") and (
                    following[:1].isdigit() or following in _DENOMINATORS or following in _MASS_MG):
                segments[-1].append(("den", token))  # "MG/ML", "5mg/325mg": part of a strength
            elif token in ("/", ";", "+", "&") or token in _EN_SEPARATOR_WORDS:
                if segments[-1]:
                    segments.append([])  # "A / B", "A and B": the next ingredient
            elif token == "%" or (previous is not None and previous[0] in ("num", "den") and (
                    token in _MASS_MG or token in _OTHER_UNITS or token in _DENOMINATORS)):
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
                if kind == "word" and token in _EN_FORM_WORDS:
                    form = _EN_FORM_WORDS[token]
                    if form is not None:
                        form_sets.append(form)
                        release = release or "immediate"
                    if token in _EN_MODIFIED_RELEASE:
                        release = "modified"
                if kind == "unit" and token == "hr" and j > 0 and seg[j - 1][0] == "num" and (
                        j < 2 or seg[j - 2][1] != "/"):
                    release = "modified"  # RxNorm "24 HR … Extended Release"
        forms = _combine_forms(form_sets)
        strengths = frozenset(_amounts(_BRACKETED.sub(" ", folded)))
        # The whole name first: "calcium carbonate and colecalciferol", "poppy capsule" are names.
        whole = [t for t in _en_words(s) if (not t[0].isdigit() or t in _NUCLIDES) and t not in _EN_DESCRIPTION_WORDS]
        whole_hit = self._resolve_en(whole, exact_only=True) if whole else None
        ingredients: list[_Ingredient] = []
        resolved = True
        if whole_hit is not None and len(segments) > 1:
            ingredients = list(whole_hit)
        else:
            for seg in segments:
                words = [t for kind, t in seg if kind == "word"]
                names = [w for w in words if w not in _EN_FORM_WORDS and w not in _EN_COMPOUND_WORDS]
                if not names:
                    continue
                amount = self._segment_amount(seg)
                hit = self._resolve_en(words, exact_only=True) or self._resolve_en(names, exact_only=False)
                if hit is None:  # a noise word may belong to the name: "concentrate of poppy straw"
                    spoken = [w for w in words if w not in _EN_FORM_WORDS or w in _EN_NAME_NOISE]
                    hit = self._resolve_en(spoken, exact_only=False) if spoken != names else None
                if hit is None:
                    resolved = False
                    ingredients.append(_Ingredient(" ".join(_en_salt_free(names)), None, None, "", amount))
                    continue
                if len(hit) == 1:
                    ingredients.append(replace(hit[0], amount_mg=amount))
                else:
                    ingredients.extend(hit)
        unique: dict[str, _Ingredient] = {}
        for ingredient in ingredients:
            unique.setdefault(ingredient.name, ingredient)
        result = tuple(unique.values())
        compound = compound or len(result) > 1
        return _Reading(
            source="name",
            label=unicodedata.normalize("NFKC", text).strip()[:_MAX_NAME_CHARS],
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
            if kind == "num" and j + 1 < len(seg) and seg[j + 1][0] == "unit" and seg[j + 1][1] in _MASS_MG:
                if j + 2 < len(seg) and seg[j + 2][0] == "den":
                    return None
                value = _decimal(token)
                if value is None:
                    return None
                return (value * _MASS_MG[seg[j + 1][1]]).normalize()
        return None

    def _resolve_en(self, words: Sequence[str], *, exact_only: bool) -> tuple[_Ingredient, ...] | None:
        if not words:
            return None
        lex = self._lex
        for candidate in (list(words), _en_salt_free(words)):
            key = " ".join(candidate)
            sid = lex.en.get(key)
            if sid is not None:
                return (self._ingredient(sid),)
        if exact_only:
            return None
        clean = _en_salt_free(words)
        parent = self._isomer_parent_en(clean)
        if parent is not None:
            return (_Ingredient(" ".join(clean), None, parent, "isomer"),)
        segments = self._segment_en(clean)
        if segments is not None:
            return tuple(self._ingredient(s) for s in segments)
        return None

    def _segment_en(self, words: Sequence[str]) -> list[int] | None:
        """Words that are two or more whole known names ("oxycodone acetaminophen"); None otherwise."""
        n = len(words)
        if n < 2 or n > 12:
            return None
        vocabulary = self._lex.en_vocabulary
        best: list[tuple[int, ...] | None] = [None] * (n + 1)
        best[0] = ()
        for i in range(n):
            here = best[i]
            if here is None:
                continue
            for length in range(1, min(self._lex.en_longest, n - i) + 1):
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
    def _parse_form(text: str) -> tuple[Forms | None, str | None]:
        """The form and release type a dosage-form text says ("缓释片", "Oral tablet", "注射剂")."""
        folded = _fold(text)
        if _has_cjk(folded):
            key = _zh_key(folded)
            if key in _ZH_BASE_FORMS:
                return _ZH_BASE_FORMS[key], "immediate"
            _, forms, release = Classifier._strip_zh_form("药品" + key)
            if forms is None:
                for prefix, (route, _modified) in _ZH_MODIFIERS.items():
                    if key.startswith(prefix) and route is not None:
                        return route, None
            return forms, release
        words = _en_words(folded)
        found = [f for w in words if (f := _EN_FORM_WORDS.get(w)) is not None]
        modified = any(w in _EN_MODIFIED_RELEASE for w in words)
        release = "modified" if modified else ("immediate" if found else None)
        return _combine_forms(found), release

    @staticmethod
    def _product_key(folded: str) -> str:
        return _ZH_KEEP.sub("", _PACK.sub("", _AMOUNT.sub("", _BRACKETED.sub("", folded))))

    # --- classification ----------------------------------------------------------------------------

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
        if len(self._cache) >= _CACHE_LIMIT:
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
        names = list(dict.fromkeys(n[: _MAX_NAME_CHARS * 2] for n in names))
        name_readings = [self._parse_name(n) for n in names]
        item_form, item_release = self._parse_form(medication_form) if medication_form else (None, None)

        entry, matched_by, reasons = self._resolve_entry(catalogue_codes, atc_codes, name_readings, item_form,
                                                         item_release)
        entry_reading = self._entries[entry][1] if entry is not None else None
        formulary_entry = self._entries[entry][0] if entry is not None else None

        rich: list[_Reading] = [entry_reading] if entry_reading else []
        rich += [r for r in name_readings if r.ingredients or r.core_key]
        thin: list[_Reading] = []
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
        readings = [self._with_named_ingredients(r, item_form or r.forms or pooled_forms) for r in readings]
        pooled_amounts: dict[int, Decimal] = {}
        for reading in readings:
            for ingredient in reading.ingredients:
                key = ingredient.listed if ingredient.listed is not None else ingredient.sid
                if key is not None and ingredient.amount_mg is not None:
                    # Several clues giving several strengths: the larger is the stricter reading.
                    known = pooled_amounts.get(key, ingredient.amount_mg)
                    pooled_amounts[key] = max(known, ingredient.amount_mg)

        hits: list[_Hit] = []
        notes: list[str] = []
        for reading in readings:
            forms = item_form or reading.forms or pooled_forms
            self._evaluate(reading, forms, pooled_amounts, hits, notes)
        self._evaluate_item(readings, names, atc_codes, formulary_entry, item_form, pooled_forms, hits)
        if formulary_entry is not None and formulary_entry.special_category:
            category = formulary_entry.special_category
            generic = formulary_entry.generic_en or formulary_entry.generic_zh or formulary_entry.name_zh
            hits.append(_Hit(category, None, generic, f"药品目录标记为{CATEGORY_NAME_ZH[category]}",
                             f"the formulary flags it {category}"))
        if entry_reading is not None:
            notes.extend(self._consistency_notes(entry_reading, name_readings))

        flags, family_notes = self._flags(hits)
        notes.extend(family_notes)
        categories = tuple(dict.fromkeys(f.category for f in flags))

        ingredients: dict[str, _Ingredient] = {}
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
        compound_readings = [r for r in readings if r.compound and not self._one_substance(r)]
        is_compound = any(r.source != "atc" for r in compound_readings) or (
            all(r.source == "atc" for r in readings) and bool(compound_readings))

        unknown_reason = None
        if formulary_entry is None:
            shown = "、".join(names[:2] or [label for c in ingredient_concepts if (label := c.label())][:2])
            if not reasons and shown:
                reasons.append(_pair(f"“{shown}”无法匹配药品目录中的品种",
                                     f"no formulary product matches “{shown}”"))
            elif not reasons and not other_codes:
                reasons.append(_pair("处方条目未写明药品（没有代码、名称或成分）",
                                     "the item names no drug (no code, name or ingredient)"))
            if other_codes:
                reasons.append(_pair(f"{'、'.join(other_codes[:3])} 不在本系统的对照表中",
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

    def _ingredient_reading(self, concepts: tuple[Concept, ...]) -> _Reading | None:
        """Medication.ingredient as one reading: each concept one ingredient, a compound when several."""
        if not concepts:
            return None
        ingredients: list[_Ingredient] = []
        resolved = True
        for concept in concepts:
            found: _Ingredient | None = None
            texts = [t for t in (concept.text, *(c.display for c in concept.codings)) if t and t.strip()]
            for text in texts:
                parsed = self._parse_name(text)
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
                    found = _Ingredient(_fold(texts[0]).strip(), None, None, "")
            if found is not None:
                ingredients.append(found)
        if not ingredients:
            return None
        label = " + ".join(i.name for i in ingredients)
        return _Reading("ingredients", label, tuple(ingredients), len(ingredients) > 1, None, None,
                        frozenset(), _EMPTY_READING_KEY, None, resolved)

    # --- the formulary entry -----------------------------------------------------------------------

    def _resolve_entry(self, catalogue_codes: Sequence[str], atc_codes: Sequence[str],
                       name_readings: Sequence[_Reading], item_form: Forms | None,
                       item_release: str | None) -> tuple[int | None, str | None, list[str]]:
        reasons: list[str] = []
        for code in catalogue_codes:
            index = self._by_code.get(code)
            if index is None:
                index = self._by_code_folded.get(_fold(code).strip())
            if index is not None:
                return index, MATCHED_BY_CODE, []
            reasons.append(_pair(f"药品代码 {code} 不在药品目录中",
                                 f"catalogue code {code} is not in the formulary"))

        forms = item_form or _combine_forms(r.forms for r in name_readings if r.forms)
        release = item_release or next((r.release for r in name_readings if r.release), None)
        strengths = [s for r in name_readings if (s := _comparable(r.strengths))]

        def narrow(candidates: Sequence[int], by_form: bool = True) -> list[int]:
            kept = []
            for index in dict.fromkeys(candidates):
                reading = self._entries[index][1]
                if by_form and not _forms_compatible(forms, reading.forms):
                    continue
                if by_form and release and reading.release and release != reading.release:
                    continue
                entry_strengths = _comparable(reading.strengths)
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
                reasons.append(_pair(f"名称“{reading.label}”对应药品目录中多个规格（{describe(kept)}），无法确定",
                                     f"the name “{reading.label}” matches several formulary products "
                                     f"({describe(kept)}); cannot tell which"))
        for atc in dict.fromkeys(atc_codes):
            candidates = self._by_atc.get(atc, [])
            kept = narrow(candidates)
            if len(kept) == 1:
                return kept[0], MATCHED_BY_ATC, []
            if len(kept) > 1:
                reasons.append(_pair(
                    f"ATC {atc} 对应药品目录中多个品种（{describe(kept)}），无法确定是哪一个",
                    f"ATC {atc} matches several formulary products ({describe(kept)}); cannot tell which"))
            elif candidates:
                reasons.append(_pair(
                    f"ATC {atc} 对应的药品目录品种（{describe(candidates)}）剂型或规格不符",
                    f"the formulary products of ATC {atc} ({describe(candidates)}) differ in form or "
                    "strength"))
            else:
                reasons.append(_pair(f"ATC {atc} 不在药品目录中", f"ATC {atc} matches no formulary product"))
        for reading in name_readings:
            sids = reading.sids
            if not sids:
                continue
            candidates = self._by_sids.get(sids, [])
            kept = narrow(candidates)
            if len(kept) == 1:
                return kept[0], MATCHED_BY_GENERIC_NAME, []
            if len(kept) > 1:
                reasons.append(_pair(
                    f"“{reading.label}”的通用名对应药品目录中多个品种（{describe(kept)}），无法确定",
                    f"the generic name of “{reading.label}” matches several formulary products "
                    f"({describe(kept)}); cannot tell which"))
            elif candidates:
                reasons.append(_pair(
                    f"“{reading.label}”与药品目录中同通用名品种（{describe(candidates)}）剂型或规格不符",
                    f"“{reading.label}” differs in form or strength from the formulary products "
                    f"of the same generic name ({describe(candidates)})"))
        return None, None, reasons

    def _consistency_notes(self, entry_reading: _Reading, name_readings: Sequence[_Reading]) -> list[str]:
        notes = []
        entry_sids = entry_reading.sids
        for reading in name_readings:
            sids = reading.sids
            if entry_sids and sids and not (entry_sids & sids):
                notes.append(_pair(f"药品代码对应“{entry_reading.label}”，但名称写的是“{reading.label}”",
                                   f"the catalogue code is “{entry_reading.label}” but the name says "
                                   f"“{reading.label}”"))
        return notes

    # --- the lists ---------------------------------------------------------------------------------

    def _evaluate(self, reading: _Reading, forms: Forms | None, pooled: Mapping[int, Decimal],
                  hits: list[_Hit], notes: list[str]) -> None:
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
                for rule in self._named_by_key.get(named_key, ()):
                    if not _forms_compatible(forms, rule.forms) or not self._amounts_agree(reading, rule):
                        continue
                    for sid, value in rule.amounts.items():  # the named product's strength, when not written
                        amounts.setdefault(sid, value)
                    covered.update(rule.controlled)
                    hits.append(self._named_hit(rule, reading, prefix_zh, prefix_en))
            for entry in self._named_name_rules.get(reading.core_key[0], ()):
                hits.append(_Hit(
                    entry.category, entry, "",
                    f"{prefix_zh}“{reading.label}”即{entry.name_zh}，列入{_LIST_ZH[entry.category]}",
                    f"{prefix_en}“{reading.label}” is {entry.name_en}, on the {entry.category} list"))

        identified = [i for i in reading.ingredients if i.listed is not None]
        if not reading.compound and len(reading.ingredients) == 1 and identified:
            self._evaluate_single(identified[0], forms, prefix_zh, prefix_en, hits, notes)
            return
        if self._one_substance(reading):
            # Salts and isomers of one substance (mixed amphetamine salts): one ingredient, not a compound.
            for ingredient in identified:
                self._evaluate_single(ingredient, forms, prefix_zh, prefix_en, hits, notes)
            return
        if not reading.compound:
            return

        sids = reading.sids
        if sids is not None and len(sids) >= 2:
            for rule in self._named_by_set.get(sids, ()):
                if _forms_compatible(forms, rule.forms) and self._amounts_agree(reading, rule):
                    covered.update(rule.controlled)
                    hits.append(self._named_hit(rule, reading, prefix_zh, prefix_en))

        listed = {i.listed: i for i in identified if i.listed is not None}
        for crule in self._class_rules:
            if crule.single:
                continue
            if crule.oral and forms is not None and not (forms & _ORAL):
                continue
            if crule.state == "solid" and forms is not None and _OS not in forms:
                continue
            if crule.state == "liquid" and forms is not None and _OL not in forms:
                continue
            if crule.substances:
                if not crule.substances <= listed.keys():
                    continue
                # The threshold and the evidence concern the controlled member (丁丙诺啡, not 纳洛酮).
                members = sorted(crule.substances, key=lambda s: (not self._is_controlled(s), s))[:1]
            elif crule.member_category is not None:
                members = [s for s in listed if any(r.entry.category == crule.member_category
                                                    for r in self._substance_rules.get(s, ()))]
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
                        amount_zh = f" 每单位 {_decimal_text(amount)} mg"
                        amount_en = f" {_decimal_text(amount)} mg per unit"
                ingredient = listed[sid]
                zh, en = self._ingredient_names(ingredient)
                if crule.entry.category in _FAMILY:
                    covered.add(sid)
                hits.append(_Hit(
                    crule.entry.category, crule.entry, ingredient.name,
                    f"{prefix_zh}复方制剂含 {zh}{amount_zh}，属“{crule.entry.name_zh}”，"
                    f"列入{_LIST_ZH[crule.entry.category]}",
                    f"{prefix_en}compound containing {en}{amount_en} falls under "
                    f"“{crule.entry.name_en}” on the {crule.entry.category} list"))

        for sid, ingredient in listed.items():
            categories = [r.entry.category for r in self._substance_rules.get(sid, ())
                          if r.entry.category in _CONTROLLED]
            if not categories:
                continue
            category = min(categories, key=lambda c: _RANK[c])
            if category in _FAMILY and sid in covered:
                continue  # a row for such compounds applied: the flag shows the ingredient
            zh, en = self._ingredient_names(ingredient)
            notes.append(_pair(
                f"复方制剂含 {zh}（其单方列入{_LIST_ZH[category]}）；该目录不列管此复方",
                f"the compound contains {en} (listed as a single substance on the {category} list); "
                "that list does not cover this compound"))

    def _one_substance(self, reading: _Reading) -> bool:
        """Several ingredients that are all salts or isomers of one listed substance."""
        if len(reading.ingredients) < 2 or any(i.listed is None for i in reading.ingredients):
            return False
        return len({self._family_root.get(i.listed, i.listed) for i in reading.ingredients
                    if i.listed is not None}) == 1

    def _evaluate_single(self, ingredient: _Ingredient, forms: Forms | None, prefix_zh: str, prefix_en: str,
                         hits: list[_Hit], notes: list[str]) -> None:
        sid = ingredient.listed
        if sid is None:
            return
        applicable: list[_SubstanceRule] = []
        for rule in self._substance_rules.get(sid, ()):
            category = rule.entry.category
            if ingredient.relation == "isomer" and category not in _ISOMER_CATEGORIES:
                continue
            if rule.forms is not None and forms is not None and not (rule.forms & forms):
                continue
            if rule.raw_only and forms is not None and _RAW not in forms:
                zh, en = self._ingredient_names(ingredient)
                notes.append(_pair(
                    f"{zh} 的原料药列入{_LIST_ZH[category]}（{rule.entry.name_zh}）；该目录不含其制剂",
                    f"{en} as raw material is on the {category} list; its preparations are not"))
                continue
            if rule.topical_exempt and forms is not None and forms <= {_TOP}:
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
                parent_zh, parent_en = self._lex.bilingual(sid)
                via_zh = f"{prefix_zh}成分 {zh} 是 {parent_zh} 的异构体，{parent_zh} 列入{_LIST_ZH[category]}"
                via_en = (f"{prefix_en}ingredient {en} is an isomer of {parent_en}, which is on the "
                          f"{category} list")
            else:
                via_zh = f"{prefix_zh}成分 {zh} 列入{_LIST_ZH[category]}"
                via_en = f"{prefix_en}ingredient {en} is on the {category} list"
            hits.append(_Hit(category, rule.entry, ingredient.name, via_zh, via_en))
        for crule in self._class_rules:
            if crule.single and sid in crule.substances and (forms is None or not crule.oral
                                                             or bool(forms & _ORAL)):
                hits.append(_Hit(
                    crule.entry.category, crule.entry, ingredient.name,
                    f"{prefix_zh}单方制剂，成分 {zh}，属“{crule.entry.name_zh}”",
                    f"{prefix_en}single-ingredient preparation of {en}: “{crule.entry.name_en}”"))

    def _evaluate_item(self, readings: Sequence[_Reading], names: Sequence[str], atc_codes: Sequence[str],
                       entry: FormularyEntry | None, item_form: Forms | None, pooled_forms: Forms | None,
                       hits: list[_Hit]) -> None:
        """Rules about the product as a whole: dosage-form and ATC classes, radionuclides."""
        atcs = set(atc_codes)
        if entry is not None and entry.atc:
            atcs.add(entry.atc)
        for reading in readings:
            for ingredient in reading.ingredients:
                for sid in (ingredient.sid, ingredient.listed):
                    if sid is not None:
                        atcs.update(self._atc_of.get(sid, ()))
        entry_names = [entry.name_zh, entry.name_en or ""] if entry else []
        facts = [self._name_facts(n) for n in (*names, *entry_names)]
        first = next((i.name for r in readings for i in r.ingredients), "")
        forms = item_form or pooled_forms
        ordered_atcs = sorted(atcs)
        for group in self._group_rules:
            if group.excluded_atc and any(a.startswith(group.excluded_atc) for a in atcs):
                continue
            if group.forms is not None:
                if forms is None or not (forms & group.forms):
                    continue
                excluded_by_name = "A10" in group.excluded_atc or "A10A" in group.excluded_atc
                if excluded_by_name and self._glucose_lowering(readings, facts, insulin_only="A10" not in
                                                               group.excluded_atc):
                    continue
                hits.append(_Hit(
                    group.entry.category, group.entry, first,
                    f"剂型为{_FORM_ZH[min(forms & group.forms)]}，属“{group.entry.name_zh}”",
                    f"the dosage form falls under “{group.entry.name_en}”"))
                continue
            prefixes = group.atc_prefixes
            by_atc = next((a for a in ordered_atcs if prefixes and a.startswith(prefixes)), None)
            by_name = group.name_endings and any(key.endswith(group.name_endings) for key, _, _ in facts)
            by_word = group.en_words and any(words.intersection(group.en_words) for _, words, _ in facts)
            if by_atc or by_name or by_word:
                why_zh = f"ATC {by_atc}" if by_atc else "名称"
                why_en = f"ATC {by_atc}" if by_atc else "the name"
                hits.append(_Hit(group.entry.category, group.entry, first,
                                 f"{why_zh} 属“{group.entry.name_zh}”",
                                 f"{why_en} falls under “{group.entry.name_en}”"))
        if not any(h.category == "radioactive" for h in hits):
            nuclide = next((n for _, _, n in facts if n), None)
            radio_atc = next((a for a in ordered_atcs if a.startswith(("V09", "V10"))), None)
            if nuclide or radio_atc:
                what_zh = f"名称含放射性核素 {nuclide}" if nuclide else f"ATC {radio_atc} 属放射性药物"
                what_en = f"the name names the radionuclide {nuclide}" if nuclide else \
                    f"ATC {radio_atc} is a radiopharmaceutical group"
                hits.append(_Hit("radioactive", None, first, what_zh + "，属放射性药品",
                                 what_en + ": a radioactive drug"))

    def _name_facts(self, name: str) -> _NameFacts:
        """What the whole-product rules look at in a name: its Chinese key, its words, a radionuclide."""
        cached = self._facts_cache.get(name)
        if cached is not None:
            return cached
        folded = _fold(name)
        facts = (_zh_key(_strip_paren(folded)), frozenset(_en_words(folded)), _nuclide_in(folded))
        if len(self._facts_cache) >= _CACHE_LIMIT:
            self._facts_cache.clear()
        self._facts_cache[name] = facts
        return facts

    def _glucose_lowering(self, readings: Sequence[_Reading], facts: Sequence[_NameFacts], *,
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
                known = self._lex.names.get(ingredient.sid, ()) if ingredient.sid is not None else ()
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

    def _with_named_ingredients(self, reading: _Reading, forms: Forms | None) -> _Reading:
        """``reading`` with the ingredients a row naming its product states (复方甘草片 contains opium)."""
        if reading.core_key is None:
            return reading
        keys = [reading.core_key] if reading.ingredients else [(reading.core_key[0], True),
                                                               (reading.core_key[0], False)]
        added: list[_Ingredient] = []
        known = {i.sid for i in reading.ingredients} | {i.listed for i in reading.ingredients}
        compound = reading.compound
        for key in keys:
            for rule in self._named_by_key.get(key, ()):
                if not _forms_compatible(forms, rule.forms):
                    continue
                compound = compound or key[1]
                for sid in rule.stated:
                    if sid not in known:
                        known.add(sid)
                        added.append(self._ingredient(sid))
        if not added:
            return reading
        return replace(reading, ingredients=reading.ingredients + tuple(added), compound=compound or len(
            reading.ingredients) + len(added) > 1)

    def _amounts_agree(self, reading: _Reading, rule: _NamedRule) -> bool:
        for ingredient in reading.ingredients:
            key = ingredient.sid if ingredient.sid is not None else ingredient.listed
            stated = rule.amounts.get(key) if key is not None else None
            if stated is not None and ingredient.amount_mg is not None and ingredient.amount_mg != stated:
                return False
        return True

    def _named_hit(self, rule: _NamedRule, reading: _Reading, prefix_zh: str, prefix_en: str) -> _Hit:
        # The ingredient the row is about: one listed in the row's own category, else the most strictly
        # listed one.
        def rank(sid: int) -> tuple[bool, int]:
            own = [r.entry.category for r in self._substance_rules.get(sid, ())]
            return rule.entry.category not in own, min((_RANK[c] for c in own), default=len(_RANK))
        chosen = sorted(rule.controlled, key=rank) or sorted(rule.sids or ())
        ingredient = self._lex.display(chosen[0]) if chosen else ""
        return _Hit(
            rule.entry.category, rule.entry, ingredient,
            f"{prefix_zh}“{reading.label}”即{rule.entry.name_zh}，列名于{_LIST_ZH[rule.entry.category]}",
            f"{prefix_en}“{reading.label}” is {rule.entry.name_en}, named on the {rule.entry.category} list")

    def _is_controlled(self, sid: int) -> bool:
        return any(r.entry.category in _CONTROLLED for r in self._substance_rules.get(sid, ()))

    def _ingredient_names(self, ingredient: _Ingredient) -> tuple[str, str]:
        if ingredient.sid is not None:
            return self._lex.bilingual(ingredient.sid)
        return ingredient.name, ingredient.name

    @staticmethod
    def _flags(hits: Sequence[_Hit]) -> tuple[tuple[SpecialFlag, ...], list[str]]:
        notes: list[str] = []
        family = [h.category for h in hits if h.category in _FAMILY]
        strictest = min(family, key=lambda c: _RANK[c]) if family else None
        kept: list[_Hit] = []
        seen: set[tuple[str, int, str]] = set()
        for hit in hits:
            if hit.category in _FAMILY and hit.category != strictest and strictest is not None:
                notes.append(_pair(f"从严：{CATEGORY_NAME_ZH[strictest]}优先于{CATEGORY_NAME_ZH[hit.category]}（{hit.zh}）",
                                   f"strictest wins: {strictest} over {hit.category} ({hit.en})"))
                continue
            key = (hit.category, id(hit.entry) if hit.entry is not None else 0, hit.ingredient)
            if key in seen:
                continue
            seen.add(key)
            kept.append(hit)
        kept.sort(key=lambda h: _RANK[h.category])
        return tuple(SpecialFlag(h.category, RULE_FOR_CATEGORY[h.category], h.entry, h.ingredient,
                                 _pair(h.zh, h.en)) for h in kept), notes


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f")
