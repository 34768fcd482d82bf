"""English product names as dictionaries write them (issue 9, point 3).

SNOMED CT and dm+d join the unit to the number, spell units out, write the dose form in full and end a name
with a semantic tag: "Morphine 10mg/ml injection (product)", "Buprenorphine 5micrograms/hour transdermal
patch", "Oral form morphine (medicinal product form)". Such a name must give the same classification as the
plain generic name in the same dose form.
"""

from __future__ import annotations

import csv
import io
import re
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources import read_resource
from tests.unit.domain.test_classification import item, lists_only
from workstation.domain.prescription import Concept

CONTROLLED = frozenset({"narcotic", "psychotropic_1", "psychotropic_2", "toxic", "radioactive", "precursor_chemical"})


def categories(name: str) -> frozenset[str]:
    return frozenset(f.category for f in lists_only().classify(item(Concept((), name))).flags)


@cache
def listed_substances() -> tuple[str, ...]:
    """Every single substance the lists name in English (no classes, compounds or qualified rows), that the
    plain name alone classifies as controlled."""
    rows = csv.DictReader(io.StringIO(read_resource("regulatory", "special_drugs.csv").decode("utf-8")))
    names: dict[str, None] = {}
    for row in rows:
        en = row["name_en"].strip()
        if row["category"] not in CONTROLLED or not re.fullmatch(r"[a-z][a-z\- ]*[a-z]", en):
            continue
        if any(w in en.split() for w in ("compound", "combination", "preparations", "and", "with")):
            continue
        if categories(en) & CONTROLLED:
            names[en] = None
    return tuple(names)


def test_there_are_listed_substances_to_try() -> None:
    found = listed_substances()
    assert len(found) >= 60 and {"morphine", "fentanyl", "buprenorphine", "diazepam", "zolpidem"} <= set(found)


# Strength spellings: mass units spelled or abbreviated, with or without a space, alone or per volume,
# per hour (patches) or per dose (sprays).
MASS = ("mg", "MG", "milligram", "milligrams", "micrograms", "microgram", "mcg", "g", "grams",
        "nanograms")
PER = ("", "/ml", "/mL", "/1ml", "/5ml", "/1 milliliter", "/hour", "/24 hours", "/dose", "/actuation", "/mL ")
DOSE_FORMS = ("tablets", "oral tablet", "capsules", "modified-release tablets", "prolonged-release capsules",
              "gastro-resistant tablets", "orodispersible tablets", "oral solution", "oral suspension",
              "solution for injection", "solution for injection ampoules", "injection", "transdermal patch",
              "transdermal patches", "suppositories", "nasal spray", "oromucosal solution", "granules",
              "effervescent tablets", "sugar free oral solution", "powder for solution for injection vials",
              "sublingual tablets", "eye drops", "syrup", "cream")
TAGS = ("", " (product)", " (medicinal product)", " (clinical drug)", " (real clinical drug)")
SALTS = ("", " hydrochloride", " sulfate", " sulphate", " tartrate", " citrate", " phosphate")


def _number() -> st.SearchStrategy[str]:
    whole = st.integers(min_value=1, max_value=2000).map(str)
    decimal = st.tuples(st.integers(0, 99), st.integers(1, 9)).map(lambda t: f"{t[0]}.{t[1]}")
    return st.one_of(whole, decimal)


def _cased(text: str, style: int) -> str:
    return (text, text.capitalize(), text.title(), text.upper())[style]


@given(substance=st.sampled_from(listed_substances()), number=_number(), space=st.sampled_from(("", " ")),
       mass=st.sampled_from(MASS), per=st.sampled_from(PER), form=st.sampled_from(DOSE_FORMS),
       tag=st.sampled_from(TAGS), salt=st.sampled_from(SALTS), style=st.integers(0, 3))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_dictionary_style_name_classifies_like_the_generic_name(substance: str, number: str, space: str, mass: str,
                                                                  per: str, form: str, tag: str, salt: str,
                                                                  style: int) -> None:
    name = f"{_cased(substance, style)}{salt} {number}{space}{mass}{per.rstrip()} {form}{tag}"
    assert categories(name) & CONTROLLED == categories(f"{substance} {form}") & CONTROLLED, name


@given(substance=st.sampled_from(listed_substances()), route=st.sampled_from(("oral", "transdermal", "cutaneous")),
       tag=st.sampled_from((" (product)", " (medicinal product form)", "")))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_dose_form_group_name_classifies_like_the_substance_in_that_route(substance: str, route: str, tag: str) -> None:
    """SNOMED CT 'medicinal product form' and 'product containing' names."""
    in_route = categories(f"{substance} {route}") & CONTROLLED
    for name in (f"{route.capitalize()} form {substance}{tag}", f"{route.title()} Form {substance.title()}{tag}",
                 f"Product containing {substance} in {route} dose form{tag}"):
        assert categories(name) & CONTROLLED == in_route, name
    name = f"{substance.capitalize()}-containing product{tag}"
    assert categories(name) & CONTROLLED == categories(substance) & CONTROLLED, name


@pytest.mark.parametrize(("name", "category"), [
    ("Morphine 10mg/ml injection (product)", "narcotic"),
    ("Morphine sulfate 10mg/1mL solution for injection ampoules", "narcotic"),
    ("Oral Form Morphine (product)", "narcotic"),
    ("Buprenorphine 5micrograms/hour transdermal patch", "psychotropic_2"),  # 丁丙诺啡透皮贴剂 -> psy II
    ("Buprenorphine 200microgram sublingual tablets sugar free", "psychotropic_1"),
    ("Fentanyl 25micrograms/hour transdermal patches", "narcotic"),
    ("Midazolam 10mg/2ml solution for injection ampoules", "psychotropic_1"),  # injection: psy I since 2024
    ("Midazolam 10mg/1ml oromucosal solution pre-filled oral syringes", "psychotropic_2"),
    ("Product containing precisely zolpidem tartrate 10 milligram/1 each conventional release oral tablet "
     "(clinical drug)", "psychotropic_2"),
])
def test_the_issue_examples(name: str, category: str) -> None:
    found = categories(name) & CONTROLLED
    assert found == {category}, (name, found)


def test_a_strength_is_read_from_every_spelling() -> None:
    from workstation.domain.classification.names import fold as _fold
    from workstation.domain.classification.strengths import amounts_in as _amounts

    mg = lambda text: _amounts(_fold(text))  # noqa: E731
    assert mg("5micrograms/hour") == mg("5 mcg/hr") == [(mg("5mcg/h")[0][0], "mg/hr")]
    assert mg("10 milligram/1 milliliter") == mg("10mg/ml") == [(mg("10 MG/ML")[0][0], "mg/ml")]
    assert mg("200 Micrograms") == mg("0.2mg")
    assert mg("1 gram") == mg("1000mg")
