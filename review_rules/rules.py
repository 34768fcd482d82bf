"""The review rules, one registered function per public rule id (review-rules.md).

Each docstring's ``fires:`` and ``passes:`` lines are examples that tests/unit/review_rules
harvests and runs through ``review_rules.examples.build``: a rule cannot ship untested.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from review_rules.engine import Hit, rule
from review_rules.knowledge import (ALLERGY_CLASSES, COUNTABLE_UNITS, DAYS_PER_UNIT, MAJOR_INTERACTIONS, MG_PER_UNIT,
                                    ML_PER_UNIT, PER_DAY)
from review_rules.model import Item, Severity, Snapshot

B, W = Severity.BLOCK, Severity.WARN
# Sources, abbreviated as in review-rules.md.
XIZE, BANFA, ZHIYIN, CHUFANG, SHENHE, CHANGCHUFANG = (
    "《互联网诊疗监管细则（试行）》", "《互联网诊疗管理办法（试行）》", "浦东新区互联网医院合规指引",
    "《处方管理办法》", "《医疗机构处方审核规范》", "《长期处方管理规范（试行）》",
)


# --------------------------------------------------------------------------- shared facts


def _fmt(value: Decimal) -> str:
    """A quantity as people write it: 20, not 2E+1; 0.5, not 0.50."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _tz(s: Snapshot) -> ZoneInfo:
    return ZoneInfo(s.settings.time_zone)


def authored(s: Snapshot) -> datetime | None:
    """When the prescription was written: its earliest item's authoredOn."""
    times = [i.authored_on for i in s.items if i.authored_on is not None]
    return min(times) if times else None


def authored_date(s: Snapshot) -> date | None:
    when = authored(s)
    return when.astimezone(_tz(s)).date() if when is not None else None


def _birthday(born: date, years: int) -> date:
    try:
        return born.replace(year=born.year + years)
    except ValueError:  # born on 29 February: the birthday falls on 1 March in common years
        return date(born.year + years, 3, 1)


def under_six(s: Snapshot) -> bool | None:
    """True/False when known; None when the birth date or the prescription date is unknown."""
    born, on = s.patient.birth_date, authored_date(s)
    if born is None or on is None:
        return None
    return on < _birthday(born, 6)


def _icd(code: str) -> str:
    return code.strip().upper().replace(".", "")


def _matches(code: str, confirmed: str, level: str) -> bool:
    a, b = _icd(code), _icd(confirmed)
    return a == b if level == "exact" else a[:3] == b[:3]


def _days(s: Snapshot, item: Item) -> Decimal | None:
    """Days of supply: as written, else quantity ÷ (dose × administrations per day) for countable units."""
    if item.supply_days is not None:
        return item.supply_days
    per_day = administrations_per_day(item)
    if item.quantity is not None and item.dose_value and per_day:
        return item.quantity / (item.dose_value * per_day)
    return None


def administrations_per_day(item: Item) -> Decimal | None:
    if item.timing_code and item.timing_code.upper() in PER_DAY:
        return PER_DAY[item.timing_code.upper()]
    if item.frequency and item.period and item.period_unit in DAYS_PER_UNIT:
        days = item.period * DAYS_PER_UNIT[item.period_unit]
        return Decimal(item.frequency) / days if days else None
    return None


def _items_in(s: Snapshot, category: set[str]) -> Iterator[Hit]:
    for item in s.items:
        facts = [f for f in item.drug.special if f.category in category]
        if facts:
            cats = "、".join(dict.fromkeys(f.category for f in facts))
            yield Hit(item.id, tuple(f.evidence for f in facts), f"{item.drug.name}（{cats}）",
                      f"{item.drug.name} ({cats})")


# --------------------------------------------------------------------------- special drugs


@rule("special_drug.narcotic", B, "麻醉药品不得在互联网开具", "narcotic drugs may not be prescribed online",
      f"{BANFA}; {ZHIYIN} 第6条, 第17条")
def narcotic(s: Snapshot) -> Iterator[Hit]:
    """An item is a narcotic drug (麻醉药品) as the lists read.

    fires: drug=oxycodone
    passes: drug=amlodipine
    passes: drug=zolpidem
    """
    return _items_in(s, {"narcotic"})


@rule("special_drug.psychotropic", B, "第一类、第二类精神药品不得在互联网开具",
      "category I and II psychotropic drugs may not be prescribed online", f"{BANFA}; {ZHIYIN} 第6条, 第17条")
def psychotropic(s: Snapshot) -> Iterator[Hit]:
    """An item is a category I or II psychotropic drug (精神药品), listed compounds included.

    fires: drug=zolpidem
    fires: drug=methylphenidate
    passes: drug=amlodipine
    """
    return _items_in(s, {"psychotropic_1", "psychotropic_2"})


@rule("special_drug.other_restricted", B, "医疗用毒性药品、放射性药品、药品类易制毒化学品不得在互联网开具",
      "toxic, radioactive and precursor-chemical drugs may not be prescribed online",
      f"{ZHIYIN} 第17条（其他用药风险较高、有其他特殊管理规定的药品）")
def other_restricted(s: Snapshot) -> Iterator[Hit]:
    """An item is a medical toxic drug, a radioactive drug or a drug-type precursor chemical.

    fires: drug=ephedrine
    passes: drug=amlodipine
    """
    return _items_in(s, {"toxic", "radioactive", "precursor_chemical"})


@rule("special_drug.online_sale_prohibited", W, "属《药品网络销售禁止清单》，配送到家可能受限",
      "on the online-sale ban list: home delivery may be barred", "《药品网络销售监督管理办法》; 禁止清单（第一版）2022")
def online_sale_prohibited(s: Snapshot) -> Iterator[Hit]:
    """An item is on the 2022 online-sale ban list (e.g. warfarin, most injections).

    fires: drug=warfarin
    passes: drug=amlodipine
    """
    return _items_in(s, {"online_sale_prohibited"})


# --------------------------------------------------------------------------- children and age


def _took_part(s: Snapshot, role: str) -> bool:
    if s.visit is None:
        return False
    wanted = {x.lower() for x in s.settings.accompanying_specialties}
    for p in s.visit.participants:
        if p.role != role:
            continue
        if role == "accompanying_physician" and wanted and not wanted.intersection(x.lower() for x in p.specialties):
            continue
        return True
    return False


@rule("pediatric.no_guardian", B, "6岁以下儿童须有监护人参与就诊", "a child under 6 needs a guardian taking part in the visit",
      f"{BANFA}; {ZHIYIN} 第17条",
      reads=("Encounter", "RelatedPerson"))
def no_guardian(s: Snapshot) -> Iterator[Hit]:
    """Patient under 6 at authoredOn and no guardian (GUARD/PRN/MTH/FTH) took part.

    fires: age=5 guardian=no
    fires: born=2020-06-02 authored=2026-06-01T09:00:00+08:00 guardian=no
    passes: born=2020-06-01 authored=2026-06-01T09:00:00+08:00 guardian=no
    passes: age=3 guardian=yes
    passes: age=40 guardian=no
    """
    if under_six(s) and not _took_part(s, "guardian"):
        yield Hit(None, (f"出生日期 {s.patient.birth_date}",), "未见监护人参与", "no guardian took part")


@rule("pediatric.no_accompanying_physician", B, "6岁以下儿童须有陪伴医师（非开方医师）参与",
      "a child under 6 needs an accompanying physician other than the prescriber", f"{BANFA}; {ZHIYIN} 第17条",
      reads=("Encounter", "Practitioner", "PractitionerRole"))
def no_accompanying_physician(s: Snapshot) -> Iterator[Hit]:
    """Patient under 6 and no accompanying physician (PART, not the prescriber) took part.

    fires: age=2 accompanying=no
    passes: age=2 accompanying=yes
    passes: age=6 accompanying=no
    """
    if under_six(s) and not _took_part(s, "accompanying_physician"):
        yield Hit(None, (f"出生日期 {s.patient.birth_date}",), "未见陪伴医师", "no accompanying physician took part")


@rule("patient.age_unknown", B, "出生日期缺失或不完整，无法核对年龄相关规定",
      "birth date missing or partial: the age rules cannot be applied", "fail-closed design")
def age_unknown(s: Snapshot) -> Iterator[Hit]:
    """The birth date is missing or partial.

    fires: born=none
    passes: age=30
    """
    if s.patient.birth_date is None:
        yield Hit(None, (f"birthDate = {s.patient.birth_date_raw!r}",))


# --------------------------------------------------------------------------- visit and diagnosis


@rule("visit.not_follow_up", B, "互联网诊疗仅限复诊，本次就诊未显示为复诊", "online visits must be follow-ups; this one is not shown to be",
      f"{XIZE} 第18条; {ZHIYIN} 第6条",
      reads=("Encounter",))
def not_follow_up(s: Snapshot) -> Iterator[Hit]:
    """The visit is not shown to be a follow-up (SNOMED CT 390906007).

    fires: follow_up=no
    fires: visit=no
    passes: follow_up=yes
    """
    if s.visit is None:
        yield Hit(None, ("no Encounter",), "处方未关联就诊记录", "the prescription names no visit")
    elif not s.visit.is_follow_up:
        yield Hit(None, ("Encounter.type lacks 390906007",))


@rule("diagnosis.missing", B, "药品条目未写临床诊断", "an item carries no diagnosis", f"{CHUFANG}; {SHENHE}",
      reads=("Condition",))
def diagnosis_missing(s: Snapshot) -> Iterator[Hit]:
    """An item has neither reasonCode nor a resolvable reasonReference.

    fires: dx=none
    passes: dx=I10
    """
    for item in s.items:
        if not item.diagnosis_codes:
            yield Hit(item.id, (item.drug.name,))


@rule("diagnosis.not_confirmed", B, "诊断与实体医疗机构明确诊断不符", "the diagnosis does not match a confirmed offline diagnosis",
      f"{XIZE} 第18条; {ZHIYIN} 第15条, 第17条",
      reads=("Condition", "DocumentReference", "Organization"))
def diagnosis_not_confirmed(s: Snapshot) -> Iterator[Hit]:
    """An item's diagnosis matches no confirmed offline diagnosis (3-character ICD-10 category by default).

    fires: dx=I10 confirmed=E11.900
    fires: dx=I10 confirmed=none unconfirmed=I10
    passes: dx=I10.x00 confirmed=I10
    passes: dx=E11.900 confirmed=I10,E11.900
    passes: dx=none
    """
    confirmed = [d.code for d in s.diagnoses if d.confirmed and d.code]
    level = s.settings.diagnosis_match
    for item in s.items:
        if item.diagnosis_codes and not any(_matches(c, k, level) for c in item.diagnosis_codes for k in confirmed):
            yield Hit(item.id, (f"item: {', '.join(item.diagnosis_codes)}", f"confirmed: {', '.join(confirmed) or 'none'}"),
                      f"{'、'.join(item.diagnosis_codes)} 无线下确诊记录", f"no confirmed record for {', '.join(item.diagnosis_codes)}")


# --------------------------------------------------------------------------- prescriber and signature


@rule("prescriber.not_physician", B, "开方者不是医师（严禁人工智能等自动生成处方）",
      "the prescriber is not a physician (no AI-generated prescriptions)", f"{XIZE} 第13条, 第21条",
      reads=("Practitioner", "PractitionerRole"))
def not_physician(s: Snapshot) -> Iterator[Hit]:
    """The requester is software, an organisation, missing or unresolvable.

    fires: prescriber=device
    fires: prescriber=missing
    passes: prescriber=practitioner
    """
    if s.prescriber.kind != "practitioner":
        yield Hit(None, (f"requester: {s.prescriber.kind} {s.prescriber.name or ''}".strip(),))


@rule("prescriber.not_verified", B, "开方医师未通过实名认证", "the prescriber has not passed real-name verification", f"{XIZE} 第12–13条",
      reads=("Practitioner", "PractitionerRole"))
def not_verified(s: Snapshot) -> Iterator[Hit]:
    """A physician without real-name verification.

    fires: verified=no
    passes: verified=yes
    """
    if s.prescriber.kind == "practitioner" and not s.prescriber.real_name_verified:
        yield Hit(None, (s.prescriber.name or "?",))


@rule("prescriber.insufficient_experience", B, "开方医师独立执业不满3年", "the prescriber has less than 3 years of independent practice",
      f"{ZHIYIN} 第13条",
      reads=("Practitioner", "PractitionerRole"))
def insufficient_experience(s: Snapshot) -> Iterator[Hit]:
    """Less than 3 years from the start of independent practice to authoredOn (exactly 3 years is enough).

    fires: practice_start=2023-06-02 authored=2026-06-01T09:00:00+08:00
    fires: practice_start=none
    passes: practice_start=2023-06-01 authored=2026-06-01T09:00:00+08:00
    """
    p = s.prescriber
    if p.kind != "practitioner":
        return
    on = authored_date(s)
    if p.practice_start is None or on is None:
        yield Hit(None, ("执业起始日期或开方日期不明 / start of practice or prescription date unknown",))
    elif on < _birthday(p.practice_start, 3):
        yield Hit(None, (f"执业起始 {p.practice_start}，开方 {on}",))


@rule("signature.missing", B, "处方缺少医师电子签名", "the prescription carries no prescriber e-signature", f"{ZHIYIN} 第17条",
      reads=("Provenance",))
def signature_missing(s: Snapshot) -> Iterator[Hit]:
    """No prescriber e-signature.

    fires: signature=missing
    passes: signature=valid
    """
    if s.signature.status == "missing":
        yield Hit(None, tuple(filter(None, (s.signature.reason,))))


@rule("signature.invalid", B, "医师电子签名无效", "the prescriber's e-signature is not valid", f"{ZHIYIN} 第17条; 《电子签名法》第13条",
      reads=("Provenance",))
def signature_invalid(s: Snapshot) -> Iterator[Hit]:
    """The signature does not verify, content changed, untrusted chain, expired certificate, or not the prescriber's.

    fires: signature=invalid
    passes: signature=valid
    passes: signature=missing
    """
    if s.signature.status not in ("valid", "missing"):
        yield Hit(None, tuple(filter(None, (s.signature.reason,))), s.signature.reason or "", s.signature.reason or "")


@rule("dispensing.before_prescription", B, "存在先药后方（开方前已配发药品）", "drugs were handed out before the prescription was written",
      f"{XIZE} 第21条",
      reads=("MedicationDispense",))
def before_prescription(s: Snapshot) -> Iterator[Hit]:
    """A dispense of an item was prepared or handed over before that item's authoredOn.

    A dispensing record that arrived but could not be read blocks too: 先药后方 cannot be ruled out.

    fires: dispensed=2026-05-31T10:00:00+08:00
    fires: unreadable=MedicationDispense
    passes: dispensed=2026-06-01T09:30:00+08:00
    passes: dispensed=none
    passes: unreadable=Observation
    """
    if s.unreadable_of("MedicationDispense"):
        yield Hit(None, (), "配发记录无法读取，无法排除先药后方", "a dispensing record could not be read: 先药后方 cannot be ruled out")
    authored_by_item = {i.id: i.authored_on for i in s.items}
    for d in s.dispenses:
        written = authored_by_item.get(d.item_id)
        if d.when is not None and written is not None and d.when < written:
            yield Hit(d.item_id, (f"配发 {d.when.isoformat()}，开方 {written.isoformat()}",))


# --------------------------------------------------------------------------- validity and supply


def _end_of(value: str, tz: ZoneInfo) -> datetime | None:
    """The last instant of a FHIR date or the instant of a dateTime."""
    try:
        if "T" in value:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return dt if dt.tzinfo else dt.replace(tzinfo=tz)
        d = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz) - timedelta(microseconds=1)


def _date_of(value: str, tz: ZoneInfo) -> date | None:
    try:
        if "T" in value:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).astimezone(tz).date()
        return date.fromisoformat(value)
    except ValueError:
        return None


@rule("validity.expired", B, "处方已超过有效期", "the prescription is past its validity", f"{CHUFANG} 第18条")
def expired(s: Snapshot) -> Iterator[Hit]:
    """Reviewed after the validity: the calendar day of authoredOn in the pharmacy's time zone, or the annotated end.

    fires: authored=2026-06-01T23:59:00+08:00 review=2026-06-02T00:00:00+08:00
    passes: authored=2026-06-01T00:00:00+08:00 review=2026-06-01T23:59:59+08:00
    passes: authored=2026-06-01T09:00:00+08:00 validity_end=2026-06-03 review=2026-06-03T18:00:00+08:00
    fires: authored=2026-06-01T09:00:00+08:00 validity_end=2026-06-03 review=2026-06-04T00:00:01+08:00
    """
    tz = _tz(s)
    review = s.review_time.astimezone(tz)
    for item in s.items:
        if item.validity_end:
            end = _end_of(item.validity_end, tz)
            if end is None:
                yield Hit(item.id, (f"validityPeriod.end = {item.validity_end!r}",), "有效期无法解析", "validity cannot be read")
            elif review > end:
                yield Hit(item.id, (f"有效期至 {item.validity_end}，审核于 {review.isoformat()}",))
        elif item.authored_on is None:
            yield Hit(item.id, ("authoredOn missing",), "开方时间缺失，无法判断有效期", "no authoredOn: validity unknown")
        elif review.date() > item.authored_on.astimezone(tz).date():
            yield Hit(item.id, (f"开具于 {item.authored_on.astimezone(tz).date()}，当日有效；审核于 {review.date()}",))


@rule("validity.too_long", B, "处方标注有效期超过3天", "annotated validity longer than 3 days", f"{CHUFANG} 第18条")
def too_long(s: Snapshot) -> Iterator[Hit]:
    """validityPeriod spans more than 3 days from its start (or authoredOn).

    passes: authored=2026-06-01T09:00:00+08:00 validity_end=2026-06-04
    fires: authored=2026-06-01T09:00:00+08:00 validity_end=2026-06-05
    """
    tz = _tz(s)
    for item in s.items:
        if not item.validity_end:
            continue
        start = _date_of(item.validity_start, tz) if item.validity_start else (
            item.authored_on.astimezone(tz).date() if item.authored_on else None)
        end = _date_of(item.validity_end, tz)
        if start is None or end is None:
            yield Hit(item.id, (f"validityPeriod {item.validity_start!r}–{item.validity_end!r}",), "有效期无法解析",
                      "validity cannot be read")
        elif (end - start).days > s.settings.validity_max_days:
            yield Hit(item.id, (f"{start} 至 {end}，共 {(end - start).days} 天",))


def _limit(s: Snapshot, item: Item) -> int:
    return s.settings.emergency_supply_days if item.emergency else s.settings.ordinary_supply_days


@rule("supply.over_limit_unjustified", B, "用量超过规定天数且未注明理由", "supply over the limit with no reason written by the prescriber",
      f"{CHUFANG} 第19条")
def over_limit_unjustified(s: Snapshot) -> Iterator[Hit]:
    """Ordinary prescription over 7 days, or emergency over 3, without a note; an unknown supply blocks too.

    passes: days=7
    fires: days=8
    fires: days=4 emergency=yes
    passes: days=8 note=慢性病病情稳定
    passes: days=60 long_term=yes
    """
    for item in s.items:
        if item.long_term:
            continue
        days = _days(s, item)
        if days is None:
            yield Hit(item.id, ("no expectedSupplyDuration and no computable quantity",), "用药天数无法确定",
                      "days of supply cannot be determined")
        elif days > _limit(s, item) and not item.notes:
            yield Hit(item.id, (f"{_fmt(days)} 天 > {_limit(s, item)} 天",))


@rule("supply.over_limit_justified", W, "用量超过规定天数，医师已注明理由", "supply over the limit, with the prescriber's reason",
      f"{CHUFANG} 第19条")
def over_limit_justified(s: Snapshot) -> Iterator[Hit]:
    """Ordinary prescription over the limit with the prescriber's reason in a note.

    fires: days=14 note=患者行动不便
    passes: days=14
    passes: days=7 note=x
    """
    for item in s.items:
        days = _days(s, item)
        if not item.long_term and days is not None and days > _limit(s, item) and item.notes:
            yield Hit(item.id, (f"{_fmt(days)} 天", *item.notes))


@rule("supply.over_long_term_limit", B, "长期处方用量超过12周", "long-term prescription over 12 weeks", CHANGCHUFANG)
def over_long_term_limit(s: Snapshot) -> Iterator[Hit]:
    """Long-term (continuous) prescription over 84 days.

    passes: days=84 long_term=yes
    fires: days=85 long_term=yes
    """
    for item in s.items:
        if item.long_term:
            days = _days(s, item)
            if days is None:
                yield Hit(item.id, ("supply unknown",), "用药天数无法确定", "days of supply cannot be determined")
            elif days > s.settings.long_term_supply_days:
                yield Hit(item.id, (f"{_fmt(days)} 天 > {s.settings.long_term_supply_days} 天",))


# --------------------------------------------------------------------------- the drug itself


@rule("catalog.unknown_drug", B, "药品无法与本药房药品目录匹配", "the drug cannot be matched to the pharmacy's formulary",
      f"fail-closed design; {SHENHE}",
      reads=("Medication", "Substance"))
def unknown_drug(s: Snapshot) -> Iterator[Hit]:
    """The drug is not in the formulary, so it cannot be verified or dispensed.

    fires: drug=unknown
    passes: drug=amlodipine
    """
    for item in s.items:
        if not item.drug.in_formulary:
            yield Hit(item.id, (item.drug.unknown_reason or item.drug.name,), item.drug.name, item.drug.name)


_SEPARATORS = re.compile(r"[\s\-_·/()（）]+")


@lru_cache(maxsize=4096)  # the same few hundred ingredient names recur in every prescription
def _norm(text: str) -> str:
    return _SEPARATORS.sub("", text).lower()


@rule("allergy.match", B, "药品成分或类别与过敏史相符", "an ingredient or class of the drug matches a recorded allergy", SHENHE,
      reads=("AllergyIntolerance",))
def allergy(s: Snapshot) -> Iterator[Hit]:
    """A recorded allergy names an ingredient, the drug, or its class (e.g. 青霉素类 → ATC J01C).

    An allergy record that arrived but could not be read blocks too: the allergies cannot be checked.

    fires: allergy=青霉素类 drug=penicillin_v
    fires: allergy=amlodipine drug=amlodipine
    fires: unreadable=AllergyIntolerance
    passes: allergy=青霉素类 drug=amlodipine
    passes: unreadable=Condition
    """
    if s.unreadable_of("AllergyIntolerance"):
        yield Hit(None, (), "过敏记录无法读取，无法核对过敏史", "an allergy record could not be read: allergies cannot be checked")
    for item in s.items:
        names = {_norm(n) for n in (*item.drug.ingredients, item.drug.name) if n}
        atc = (item.drug.atc or "").upper()
        for a in s.patient.allergies:
            label = _norm(a.label)
            by_name = label in names
            prefixes = ALLERGY_CLASSES.get(a.label.strip().lower(), ()) + ALLERGY_CLASSES.get(a.label.strip(), ())
            by_class = bool(atc) and any(atc.startswith(p) for p in prefixes)
            by_code = bool(atc) and any(c.upper() == atc for c in a.codes)
            if label and (by_name or by_class or by_code):
                yield Hit(item.id, (f"过敏史：{a.label}", f"药品：{item.drug.name} {atc}".strip()))


@rule("skin_test.missing", B, "需皮试药品未见皮试结果", "a drug that needs a skin test carries no result", f"{SHENHE}（皮试）")
def skin_test_missing(s: Snapshot) -> Iterator[Hit]:
    """The drug needs a skin test and the item carries no result.

    fires: drug=penicillin_v skin_test=none
    passes: drug=penicillin_v skin_test=negative
    passes: drug=amlodipine
    """
    for item in s.items:
        if item.drug.skin_test_required and not item.skin_test_result:
            yield Hit(item.id, (item.drug.name,))


@rule("skin_test.positive", B, "皮试结果阳性", "the skin test result is positive", SHENHE)
def skin_test_positive(s: Snapshot) -> Iterator[Hit]:
    """The item carries a positive skin-test result.

    fires: drug=penicillin_v skin_test=positive
    passes: drug=penicillin_v skin_test=negative
    """
    for item in s.items:
        if (item.skin_test_result or "").lower() == "positive":
            yield Hit(item.id, (item.drug.name,))


@rule("completeness.missing_field", B, "处方必备项目缺失", "a field a prescription must have is missing", f"{CHUFANG} 第5–6条; {SHENHE}（规范性）")
def missing_field(s: Snapshot) -> Iterator[Hit]:
    """Patient name, sex, age, diagnosis, drug, dose, frequency, quantity, prescriber or date is missing.

    fires: name=none
    fires: quantity=none
    fires: timing=none
    passes: age=50
    """
    whole = [("患者姓名", "patient name", not s.patient.name), ("性别", "sex", not s.patient.gender),
             ("年龄", "age", not s.patient.birth_date_raw), ("开方医师", "prescriber", s.prescriber.kind == "missing"),
             ("开方日期", "date", authored(s) is None)]
    missing = [(zh, en) for zh, en, gone in whole if gone]
    if missing:
        yield Hit(None, tuple(en for _, en in missing), "、".join(zh for zh, _ in missing), ", ".join(en for _, en in missing))
    for item in s.items:
        fields = [("诊断", "diagnosis", not item.diagnosis_codes), ("药品", "drug", not item.drug.name),
                  ("剂量", "dose", item.dose_value is None),
                  ("频次", "frequency", administrations_per_day(item) is None and not item.dosage_text),
                  ("数量", "quantity", item.quantity is None)]
        gone = [(zh, en) for zh, en, g in fields if g]
        if gone:
            yield Hit(item.id, tuple(en for _, en in gone), "、".join(zh for zh, _ in gone), ", ".join(en for _, en in gone))


@rule("items.too_many", W, "每张处方不得超过5种药品", "more than 5 drugs on one prescription", f"{CHUFANG} 第6条")
def too_many(s: Snapshot) -> Iterator[Hit]:
    """More than 5 items.

    passes: drugs=amlodipine,metformin,atorvastatin,aspirin,omeprazole
    fires: drugs=amlodipine,metformin,atorvastatin,aspirin,omeprazole,levothyroxine
    """
    if len(s.items) > s.settings.max_items:
        yield Hit(None, (f"{len(s.items)} 种药品",))


def _mg(item: Item) -> Decimal | None:
    """One dose in mg: mass units directly, countable units through the strength per unit, volumes
    through the concentration (5 ml of 20 mg/ml is 100 mg)."""
    if item.dose_value is None or not item.dose_unit:
        return None
    unit = item.dose_unit.strip().lower()
    if unit in MG_PER_UNIT:
        return item.dose_value * MG_PER_UNIT[unit]
    if unit in COUNTABLE_UNITS and item.drug.strength_mg is not None:
        return item.dose_value * item.drug.strength_mg
    if unit in ML_PER_UNIT and item.drug.strength_mg_per_ml is not None:
        return item.dose_value * ML_PER_UNIT[unit] * item.drug.strength_mg_per_ml
    return None


@rule("dose.over_max", W, "单次或日剂量超过药品目录最大日剂量", "single or daily dose above the formulary maximum", f"{SHENHE}（剂量、用法）")
def over_max(s: Snapshot) -> Iterator[Hit]:
    """Daily dose (dose × administrations per day, tablets converted by strength) above the formulary maximum.

    fires: drug=amlodipine dose=3 dose_unit={tbl} timing=QD
    passes: drug=amlodipine dose=1 dose_unit={tbl} timing=BID
    fires: drug=amlodipine dose=15 dose_unit=mg timing=QD
    passes: drug=warfarin dose=10 dose_unit=mg timing=QD
    passes: drug=ibuprofen_suspension dose=5 dose_unit=毫升 timing=Q8H
    fires: drug=ibuprofen_suspension dose=45 dose_unit=mL timing=Q8H
    fires: drug=ibuprofen_suspension dose=5 dose_unit=滴 timing=Q8H
    passes: drug=amlodipine dose=none
    """
    for item in s.items:
        limit = item.drug.max_daily_dose_mg
        if limit is None or item.dose_value is None:
            continue  # no dose written: completeness.missing_field blocks it already
        single, per_day = _mg(item), administrations_per_day(item)
        if single is None or per_day is None:
            yield Hit(item.id, (f"dose {item.dose_value} {item.dose_unit}, timing {item.timing_code}",),
                      "剂量单位或频次无法换算，请人工核对", "dose or frequency cannot be converted; check by hand")
            continue
        daily = single * per_day
        if single > limit or daily > limit:
            yield Hit(item.id, (f"日剂量 {_fmt(daily)} mg > 最大 {_fmt(limit)} mg",))


@rule("therapy.duplicate", W, "重复用药：成分相同或同属一类药物", "duplicate therapy: shared ingredient or same ATC chemical subgroup",
      f"{SHENHE}（重复给药）")
def duplicate(s: Snapshot) -> Iterator[Hit]:
    """Two items share an ingredient or an ATC 4th level (e.g. C08CA).

    fires: drugs=amlodipine,nifedipine
    passes: drugs=amlodipine,metformin
    """
    items = list(s.items)
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            shared = {_norm(x) for x in a.drug.ingredients} & {_norm(x) for x in b.drug.ingredients}
            same_class = bool(a.drug.atc and b.drug.atc and len(a.drug.atc) >= 5 and a.drug.atc[:5] == b.drug.atc[:5])
            if shared or same_class:
                why = f"共同成分 {', '.join(sorted(shared))}" if shared else f"同属 {a.drug.atc[:5] if a.drug.atc else ''}"
                yield Hit(b.id, (f"{a.drug.name} + {b.drug.name}", why))


@rule("interaction.major", W, "存在严重相互作用或配伍禁忌", "a known major interaction or contraindicated combination",
      f"{SHENHE}（相互作用、配伍禁忌）")
def interaction(s: Snapshot) -> Iterator[Hit]:
    """A pair of items is a known major interaction (by ATC).

    fires: drugs=warfarin,aspirin
    fires: drugs=clarithromycin,simvastatin
    passes: drugs=amlodipine,metformin
    """
    items = list(s.items)
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            x, y = (a.drug.atc or "").upper(), (b.drug.atc or "").upper()
            for p, q, why in MAJOR_INTERACTIONS:
                if x and y and ((x.startswith(p) and y.startswith(q)) or (x.startswith(q) and y.startswith(p))):
                    yield Hit(b.id, (f"{a.drug.name} + {b.drug.name}", why), why.split(" / ")[0], why.split(" / ")[-1])


