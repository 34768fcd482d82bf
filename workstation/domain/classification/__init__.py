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

The package follows that reading: ``names`` (names and salts, the lexicon, isomers), ``strengths``
(strengths and dosage forms), ``reading`` (one clue read into ingredients, strengths and forms),
``lists`` (the list rows interpreted into rules), ``judging`` (a reading judged against the rules)
and ``classifier`` (an item's clues resolved to the formulary and judged; the strictest answer wins).
"""

from workstation.domain.classification.classifier import Classifier
from workstation.domain.classification.model import (
    ATC_SYSTEM,
    DRUG_SYSTEM,
    MATCHED_BY_ATC,
    MATCHED_BY_CODE,
    MATCHED_BY_GENERIC_NAME,
    MATCHED_BY_PRODUCT_NAME,
    RXNORM_SYSTEM,
    DrugClassification,
    SpecialFlag,
)

__all__ = [
    "ATC_SYSTEM",
    "DRUG_SYSTEM",
    "MATCHED_BY_ATC",
    "MATCHED_BY_CODE",
    "MATCHED_BY_GENERIC_NAME",
    "MATCHED_BY_PRODUCT_NAME",
    "RXNORM_SYSTEM",
    "Classifier",
    "DrugClassification",
    "SpecialFlag",
]
