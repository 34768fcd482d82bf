"""What a classification says: the item's formulary entry, its special categories and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from workstation.domain.formulary import FormularyEntry
from workstation.domain.special_drugs import SpecialDrugEntry


DRUG_SYSTEM: Final = "https://rxws.example.org/fhir/CodeSystem/drug"
ATC_SYSTEM: Final = "http://www.whocc.no/atc"
RXNORM_SYSTEM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"

# What ``matched_by`` says, in the order the clues are tried.
MATCHED_BY_CODE: Final = "catalogue code"
MATCHED_BY_PRODUCT_NAME: Final = "product name"
MATCHED_BY_ATC: Final = "ATC"
MATCHED_BY_GENERIC_NAME: Final = "generic name"


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
