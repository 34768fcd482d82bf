"""用法用量 in plain Chinese from the structured dose, and the prescriber's own text where it is not structured."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tests.unit.domain.test_classification import item
from workstation.domain.prescription import Concept, Item
from workstation.domain.usage import frequency_text, number, unit_words, usage_zh


def dosed(**changes: object) -> Item:
    base = dataclasses.replace(item(Concept((), "苯磺酸氨氯地平片")), route="口服", dose_value=Decimal(1),
                               dose_unit="{tbl}", dose_unit_text="片", timing_code="TID")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_structured_dose_reads_as_a_pharmacist_writes_it() -> None:
    assert usage_zh(dosed(timing_when=("PC",))) == "口服，一次1片，一日3次，饭后"
    assert usage_zh(dosed(dose_value=Decimal("0.5"), timing_code="QD", timing_when=("HS",))) == "口服，一次0.5片，一日1次，睡前"
    assert usage_zh(dosed(dose_unit_text=None, dose_unit="{cap}")) == "口服，一次1粒，一日3次"
    assert usage_zh(dosed(route="PO", dose_value=Decimal(5), dose_unit_text="mL", timing_code="Q8H")) == \
        "口服，一次5mL，每8小时1次"
    assert usage_zh(dosed(additional_instructions=("整片吞服",))) == "口服，一次1片，一日3次，整片吞服"


@pytest.mark.parametrize(("frequency", "period", "unit", "text"), [
    (3, Decimal(1), "d", "一日3次"), (1, Decimal(8), "h", "每8小时1次"), (2, Decimal(1), "wk", "一周2次"),
    (1, Decimal(2), "d", "每2日1次"),
])
def test_a_frequency_without_a_code_is_read_from_frequency_and_period(
        frequency: int, period: Decimal, unit: str, text: str) -> None:
    assert frequency_text(dosed(timing_code=None, frequency=frequency, period=period, period_unit=unit)) == text


def test_what_is_not_structured_is_not_guessed() -> None:
    assert usage_zh(dosed(dose_value=None, dosage_text="口服，每日1次，每次1片")) == "口服，每日1次，每次1片"
    assert usage_zh(dosed(timing_code=None, dosage_text="遵医嘱，疼痛时服用")) == "遵医嘱，疼痛时服用"
    assert usage_zh(dosed(route=None, dose_value=None, timing_code=None)) == "遵医嘱"


def test_numbers_and_units_as_printed() -> None:
    assert [number(Decimal(x)) for x in ("5", "5.0", "0.50", "1E+1")] == ["5", "5", "0.5", "10"]
    assert unit_words("{tbl}") == "片" and unit_words("{puff}") == "揿" and unit_words("mg") == "mg"
    assert unit_words("{unknown}") == "unknown" and unit_words(None) == ""
