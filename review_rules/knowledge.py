"""Small clinical reference tables the rules use: dosing frequencies, allergy classes, major interactions."""

from __future__ import annotations

from decimal import Decimal

# Administrations per day for HL7 v3 GTSAbbreviation timing codes (and common Chinese abbreviations).
PER_DAY: dict[str, Decimal] = {
    "QD": Decimal(1), "BID": Decimal(2), "TID": Decimal(3), "QID": Decimal(4),
    "Q4H": Decimal(6), "Q6H": Decimal(4), "Q8H": Decimal(3), "Q12H": Decimal(2), "Q24H": Decimal(1),
    "QN": Decimal(1), "HS": Decimal(1), "QAM": Decimal(1), "QPM": Decimal(1), "AM": Decimal(1), "PM": Decimal(1),
    "QOD": Decimal("0.5"), "QW": Decimal(1) / 7, "BIW": Decimal(2) / 7, "TIW": Decimal(3) / 7,
}

DAYS_PER_UNIT: dict[str, Decimal] = {
    "s": Decimal(1) / 86400, "min": Decimal(1) / 1440, "h": Decimal(1) / 24, "d": Decimal(1),
    "wk": Decimal(7), "mo": Decimal(30), "a": Decimal(365),
}

MG_PER_UNIT: dict[str, Decimal] = {
    "mg": Decimal(1), "g": Decimal(1000), "ug": Decimal("0.001"), "mcg": Decimal("0.001"), "µg": Decimal("0.001"),
    "毫克": Decimal(1), "克": Decimal(1000), "微克": Decimal("0.001"),
}

# Volumes, in millilitres, for liquid doses converted through the concentration.
ML_PER_UNIT: dict[str, Decimal] = {"ml": Decimal(1), "毫升": Decimal(1), "l": Decimal(1000), "升": Decimal(1000)}

COUNTABLE_UNITS = frozenset({"{tbl}", "{tablet}", "{cap}", "{capsule}", "tablet", "tablets", "tab", "capsule",
                             "capsules", "cap", "片", "粒", "丸", "袋", "支", "1"})

# Allergy classes: a recorded allergy to a class matches drugs whose ATC code starts with any prefix.
ALLERGY_CLASSES: dict[str, tuple[str, ...]] = {
    "青霉素": ("J01C",), "青霉素类": ("J01C",), "penicillin": ("J01C",), "penicillins": ("J01C",),
    "头孢": ("J01DB", "J01DC", "J01DD", "J01DE"), "头孢菌素": ("J01DB", "J01DC", "J01DD", "J01DE"),
    "头孢菌素类": ("J01DB", "J01DC", "J01DD", "J01DE"),
    "cephalosporin": ("J01DB", "J01DC", "J01DD", "J01DE"), "cephalosporins": ("J01DB", "J01DC", "J01DD", "J01DE"),
    "磺胺": ("J01E",), "磺胺类": ("J01E",), "sulfonamide": ("J01E",), "sulfonamides": ("J01E",),
    "大环内酯类": ("J01FA",), "macrolide": ("J01FA",), "macrolides": ("J01FA",),
    "喹诺酮类": ("J01MA",), "quinolone": ("J01MA",), "fluoroquinolones": ("J01MA",),
    "非甾体抗炎药": ("M01A", "N02BA"), "nsaid": ("M01A", "N02BA"), "nsaids": ("M01A", "N02BA"),
    "阿司匹林": ("B01AC06", "N02BA01"), "aspirin": ("B01AC06", "N02BA01"),
    "他汀类": ("C10AA",), "statins": ("C10AA",),
}

# Major interactions or contraindicated combinations, by ATC prefix pairs, with the reason shown.
MAJOR_INTERACTIONS: tuple[tuple[str, str, str], ...] = (
    ("B01AA", "B01AC06", "华法林与阿司匹林合用显著增加出血风险 / warfarin with aspirin: major bleeding risk"),
    ("B01AA", "M01A", "华法林与非甾体抗炎药合用增加出血风险 / warfarin with NSAIDs: bleeding risk"),
    ("J01FA09", "C10AA01", "克拉霉素抑制CYP3A4，辛伐他汀横纹肌溶解风险，禁止合用 / clarithromycin with simvastatin: "
                           "rhabdomyolysis, contraindicated"),
    ("J01FA09", "C10AA02", "克拉霉素与洛伐他汀禁止合用 / clarithromycin with lovastatin: contraindicated"),
    ("G04BE", "C01DA", "PDE5抑制剂与硝酸酯类合用致严重低血压，禁止合用 / PDE5 inhibitors with nitrates: severe "
                       "hypotension, contraindicated"),
    ("N06AF", "N06AB", "单胺氧化酶抑制剂与SSRI合用致5-羟色胺综合征 / MAOI with SSRI: serotonin syndrome"),
    ("B01AC04", "A02BC01", "氯吡格雷与奥美拉唑合用降低抗血小板作用 / clopidogrel with omeprazole: reduced "
                           "antiplatelet effect"),
    ("C03DA", "C09", "保钾利尿剂与ACEI/ARB合用致高钾血症 / potassium-sparing diuretics with ACE inhibitors or ARBs: "
                     "hyperkalaemia"),
    ("J01MA", "N05AH", "喹诺酮类与喹硫平/奥氮平等合用致QT间期延长 / quinolones with QT-prolonging antipsychotics"),
)
