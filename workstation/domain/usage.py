"""How to take a drug, in plain Chinese, from the structured dose (用法用量): "口服，一次1片，一日3次，饭后".

Read from the FHIR Dosage as the intake profile stores it: route, dose quantity, frequency (a timing
code such as TID, or ``repeat.frequency`` per ``period`` ``periodUnit``), ``repeat.when`` and the
additional instructions. What is not structured is not guessed: the prescriber's own text is used
instead, so a label never says more than the prescription.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from workstation.domain.prescription import Item

# GTS abbreviations (HL7 v3 GTSAbbreviation) as Chinese label text.
_TIMING_CODES: Final = {
    "QD": "一日1次", "BID": "一日2次", "TID": "一日3次", "QID": "一日4次",
    "Q4H": "每4小时1次", "Q6H": "每6小时1次", "Q8H": "每8小时1次", "Q12H": "每12小时1次",
    "QOD": "隔日1次", "QW": "每周1次", "BIW": "每周2次", "TIW": "每周3次", "QN": "每晚1次",
    "QM": "每晨1次", "AM": "每晨1次", "PM": "每晚1次", "HS": "睡前1次", "PRN": "必要时",
    "STAT": "立即", "ONCE": "单次",
}
_PERIOD_UNITS: Final = {"h": "小时", "d": "日", "wk": "周", "mo": "月", "min": "分钟"}
# FHIR EventTiming codes (Timing.repeat.when).
_WHEN: Final = {
    "AC": "饭前", "ACM": "早饭前", "ACD": "午饭前", "ACV": "晚饭前",
    "PC": "饭后", "PCM": "早饭后", "PCD": "午饭后", "PCV": "晚饭后",
    "C": "随餐", "CM": "早餐时", "CD": "午餐时", "CV": "晚餐时",
    "HS": "睡前", "WAKE": "晨起", "MORN": "早晨", "NIGHT": "夜间",
}
_ROUTE_CODES: Final = {"PO": "口服", "SL": "舌下含服", "IV": "静脉注射", "IM": "肌内注射", "SC": "皮下注射",
                       "TOP": "外用", "INH": "吸入", "PR": "直肠给药", "OPH": "滴眼", "NAS": "滴鼻"}
# UCUM annotations as a pharmacist writes them.
UNIT_WORDS: Final = {"{tbl}": "片", "{tab}": "片", "{cap}": "粒", "{puff}": "揿", "{drop}": "滴", "{patch}": "贴",
                     "{sachet}": "袋", "{pc}": "个", "{supp}": "粒", "{bottle}": "瓶", "{box}": "盒"}


def unit_words(unit: str | None) -> str:
    """A unit as a pharmacist reads it: "{tbl}" is 片; another annotation loses its braces; mg stays mg."""
    if not unit:
        return ""
    unit = unit.strip()
    for code, word in UNIT_WORDS.items():
        unit = unit.replace(code, word)
    return unit.replace("{", "").replace("}", "")


def number(value: Decimal) -> str:
    """5 not 5.0, 0.5 not 5E-1."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def frequency_text(item: Item) -> str | None:
    """一日3次, 每8小时1次, 必要时… (None when the prescription does not say)."""
    if item.timing_code:
        code = item.timing_code.strip().upper()
        if code in _TIMING_CODES:
            return _TIMING_CODES[code]
    if item.frequency is not None and item.period is not None and item.period_unit in _PERIOD_UNITS:
        unit = _PERIOD_UNITS[item.period_unit or ""]
        if item.period == 1:
            return f"{'每' if unit in ('小时', '分钟') else '一'}{unit}{item.frequency}次"
        return f"每{number(item.period)}{unit}{item.frequency}次"
    return item.timing_code  # an unknown code, shown as sent


def usage_zh(item: Item) -> str:
    """"口服，一次1片，一日3次，饭后" from the structured dose; the prescriber's text when it is not structured."""
    parts: list[str] = []
    route = (item.route or "").strip()
    if route:
        parts.append(_ROUTE_CODES.get(route.upper(), route))
    if item.dose_value is not None:
        parts.append(f"一次{number(item.dose_value)}{unit_words(item.dose_unit_text or item.dose_unit)}")
    frequency = frequency_text(item)
    if frequency:
        parts.append(frequency)
    parts += [_WHEN.get(w.upper(), w) for w in item.timing_when]
    structured = item.dose_value is not None and frequency is not None
    if not structured:
        if item.dosage_text:
            return item.dosage_text.strip()
        if not parts:
            return "遵医嘱"
    parts += [a for a in item.additional_instructions if a not in parts]
    return "，".join(dict.fromkeys(parts))
