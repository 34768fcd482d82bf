"""The engine fails closed: it never raises, never passes on error, and a blocking fact always blocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from review_rules import REGISTRY, evaluate
from review_rules.engine import Hit, Rule, run_rule
from review_rules.examples import DRUGS, build
from review_rules.model import (
    Allergy,
    Diagnosis,
    Dispense,
    InstitutionSettings,
    Item,
    Participant,
    Patient,
    Prescriber,
    Severity,
    SignatureCheck,
    Snapshot,
    Visit,
)

texts = st.none() | st.text(max_size=12)
decimals = st.none() | st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**6, max_value=10**6)
instants = st.none() | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1),
                                    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8))]))
items = st.builds(
    Item, id=st.text(min_size=1, max_size=5), drug=st.sampled_from(list(DRUGS.values())), authored_on=instants,
    diagnosis_codes=st.lists(st.text(max_size=8), max_size=3).map(tuple), dose_value=decimals, dose_unit=texts,
    timing_code=texts, frequency=st.none() | st.integers(-3, 10), period=decimals, period_unit=texts, quantity=decimals,
    supply_days=decimals, validity_start=texts, validity_end=texts, long_term=st.booleans(), emergency=st.booleans(),
    notes=st.lists(st.text(max_size=5), max_size=2).map(tuple), skin_test_result=texts, route=texts, dosage_text=texts,
)
snapshots = st.builds(
    Snapshot,
    number=st.text(max_size=8),
    items=st.lists(items, max_size=7).map(tuple),
    patient=st.builds(Patient, name=texts, gender=texts, birth_date=st.none() | st.dates(), birth_date_raw=texts,
                      allergies=st.lists(st.builds(Allergy, label=st.text(max_size=6)), max_size=2).map(tuple),
                      weight_kg=decimals),
    prescriber=st.builds(Prescriber, kind=st.sampled_from(["practitioner", "device", "missing", "x"]), licence=texts,
                         name=texts, practice_start=st.none() | st.dates(), real_name_verified=st.booleans()),
    visit=st.none() | st.builds(Visit, is_follow_up=st.booleans(), participants=st.lists(
        st.builds(Participant, role=st.sampled_from(["guardian", "accompanying_physician", "other"]), id=texts), max_size=3
    ).map(tuple)),
    signature=st.builds(SignatureCheck, status=st.sampled_from(["valid", "missing", "invalid", ""]), reason=texts),
    review_time=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    diagnoses=st.lists(st.builds(Diagnosis, code=texts, confirmed=st.booleans()), max_size=3).map(tuple),
    dispenses=st.lists(st.builds(Dispense, item_id=st.text(max_size=5), when=instants), max_size=2).map(tuple),
    settings=st.builds(InstitutionSettings, diagnosis_match=st.sampled_from(["category", "exact", "?"])),
)


@settings(max_examples=600, deadline=None)
@given(snapshots)
def test_the_engine_never_raises_and_every_failure_blocks(snapshot: Snapshot) -> None:
    result = evaluate(snapshot)
    assert result.checked
    for f in result.findings:
        assert f.rule_id in REGISTRY and f.message_zh and f.message_en


BLOCKING_FACTS = [
    {"drug": "oxycodone"}, {"age": 3}, {"born": None}, {"follow_up": False}, {"dx": None}, {"confirmed": "E11"},
    {"prescriber": "device"}, {"verified": False}, {"practice_start": "2025-01-01"}, {"signature": "missing"},
    {"signature": "invalid"}, {"dispensed": "2026-05-01T08:00:00+08:00"}, {"days": 30}, {"drug": "unknown"},
    {"allergy": "amlodipine"}, {"quantity": None},
]


@settings(max_examples=300, deadline=None)
@given(snapshots, st.sampled_from(BLOCKING_FACTS))
def test_adding_a_blocking_fact_never_makes_a_prescription_approvable(snapshot: Snapshot, fact: dict[str, object]) -> None:
    blocked = build(fact)
    assert not evaluate(blocked).approvable, fact
    # The same fact on a random prescription: whatever else it holds, it is still not approvable.
    mixed = replace(blocked, number=snapshot.number, diagnoses=blocked.diagnoses + snapshot.diagnoses,
                    dispenses=blocked.dispenses + snapshot.dispenses)
    assert not evaluate(mixed).approvable


def test_a_rule_that_raises_blocks_and_says_why() -> None:
    def broken(_: Snapshot) -> list[Hit]:
        raise ZeroDivisionError("division by zero")

    r = Rule("dose.over_max", Severity.WARN, "剂量", "dose", "src", broken)
    findings = run_rule(r, build({}))
    assert [f.severity for f in findings] == [Severity.BLOCK]
    assert "could not decide" in findings[0].message_en and "division by zero" in findings[0].evidence[0]


def test_an_engine_failure_is_not_checked_and_not_approvable() -> None:
    result = evaluate("not a snapshot")  # type: ignore[arg-type]
    assert not result.checked and not result.approvable and result.error


def test_severity_override_and_disabled_rules() -> None:
    s = build({"drug": "warfarin"})
    assert evaluate(s).approvable  # a warning only
    stricter = replace(s, settings=InstitutionSettings(severity=(("special_drug.online_sale_prohibited", Severity.BLOCK),)))
    assert not evaluate(stricter).approvable
    off = replace(s, settings=InstitutionSettings(disabled=frozenset({"special_drug.online_sale_prohibited"})))
    assert not [f for f in evaluate(off).findings if f.rule_id == "special_drug.online_sale_prohibited"]


def test_child_turns_six_on_the_day() -> None:
    authored = "2026-06-01T09:00:00+08:00"
    on_birthday = evaluate(build({"born": "2020-06-01", "authored": authored}))
    day_before = evaluate(build({"born": "2020-06-02", "authored": authored}))
    assert not {f.rule_id for f in on_birthday.findings} & {"pediatric.no_guardian", "pediatric.no_accompanying_physician"}
    assert {"pediatric.no_guardian", "pediatric.no_accompanying_physician"} <= {f.rule_id for f in day_before.findings}


def test_validity_ends_at_midnight_in_the_pharmacy_time_zone() -> None:
    # 23:30 UTC on 1 June is 07:30 on 2 June in Shanghai: the next day there, so expired.
    s = build({"authored": "2026-06-01T09:00:00+08:00", "review": "2026-06-01T23:30:00+00:00"})
    assert "validity.expired" in {f.rule_id for f in evaluate(s).findings}
    utc = replace(s, settings=InstitutionSettings(time_zone="UTC"))
    assert "validity.expired" not in {f.rule_id for f in evaluate(utc).findings}


def test_dose_uses_strength_for_tablets() -> None:
    two_tabs_bid = build({"drug": "amlodipine", "dose": 2, "dose_unit": "{tbl}", "timing": "BID"})  # 20 mg/day > 10
    found = [f for f in evaluate(two_tabs_bid).findings if f.rule_id == "dose.over_max"]
    assert found and "20" in found[0].evidence[0]
    assert Decimal(10) == DRUGS["amlodipine"].max_daily_dose_mg
    assert date(2026, 6, 1)
