"""The pharmacy formulary (药品目录): its entries and the parser of its CSV import format."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from workstation.domain.errors import DomainError
from workstation.domain.special_drugs import (
    SPECIAL_CATEGORIES,
    CsvRecord,
    CsvRowError,
    check_import_size,
    decode_csv_bytes,
    has_control_character,
    in_file_order,
    normalise_atc,
    normalise_special_category,
    quote_value,
    read_csv_table,
    split_list_cell,
    summarise_errors,
)

# One error shape for every CSV the workstation imports, so the UI and the CLI show them alike.
FormularyRowError = CsvRowError

FORMULARY_COLUMNS: Final[tuple[str, ...]] = (
    "code",
    "name_zh",
    "name_en",
    "generic_zh",
    "generic_en",
    "atc",
    "dosage_form",
    "strength",
    "special_category",
    "max_daily_dose_mg",
    "skin_test_required",
    "ingredients_zh",
    "ingredients_en",
)

# The widths of the formulary_entry columns: PostgreSQL refuses longer values, and a row-numbered message at
# import beats a database error at commit time.
# Optional: what the dispensing label prints. A formulary without them still imports.
FORMULARY_LABEL_COLUMNS: Final[tuple[str, ...]] = ("storage", "label_warnings", "package_size", "package_unit")

MAX_CELL_LENGTH: Final[Mapping[str, int]] = MappingProxyType({
    "storage": 128,
    "label_warnings": 512,
    "package_unit": 16,
    "code": 64,
    "name_zh": 256,
    "name_en": 256,
    "generic_zh": 256,
    "generic_en": 256,
    "dosage_form": 64,
    "strength": 64,
    "max_daily_dose_mg": 32,
})

_YES: Final = frozenset({"yes", "y", "true", "1", "是"})
_NO: Final = frozenset({"no", "n", "false", "0", "否"})
# Plain decimals only: "1e3", "NaN" and "Infinity" are valid Decimal input but never a dose someone meant.
_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


@dataclass(frozen=True, slots=True)
class FormularyEntry:
    """One drug product the pharmacy stocks, with the facts the review rules use."""

    code: str  # the pharmacy's own product code, unique within a formulary
    name_zh: str
    name_en: str | None
    generic_zh: str | None
    generic_en: str | None
    atc: str | None  # upper case, WHO ATC level 1-5
    dosage_form: str | None
    strength: str | None  # raw text as written ("5mg", "100mg/ml", "80万单位"): parsed where it is used
    special_category: str | None  # one of SPECIAL_CATEGORIES; None for an ordinary drug
    max_daily_dose_mg: Decimal | None
    skin_test_required: bool
    ingredients_zh: tuple[str, ...]
    ingredients_en: tuple[str, ...]
    # For the dispensing label (optional columns): how to store it, what to warn, what one package holds.
    storage: str | None = None  # 冷藏 2–8℃, 遮光密封保存…
    label_warnings: tuple[str, ...] = ()  # 用前摇匀; 服药期间禁酒…
    package_size: int | None = None  # units of the prescribed quantity in one package (14 片 a box)
    package_unit: str | None = None  # 盒, 瓶, 支…

    def __post_init__(self) -> None:
        if not self.code.strip():
            raise ValueError("a formulary entry needs a code")
        if not self.name_zh.strip():
            raise ValueError(f"formulary entry {self.code!r} needs a Chinese name")
        if self.special_category is not None and self.special_category not in SPECIAL_CATEGORIES:
            raise ValueError(f"unknown special category {self.special_category!r}")
        if self.max_daily_dose_mg is not None and not (
            self.max_daily_dose_mg.is_finite() and self.max_daily_dose_mg >= 0
        ):
            raise ValueError(f"max_daily_dose_mg must be a non-negative number, not {self.max_daily_dose_mg}")


class FormularyImportError(DomainError):
    """A formulary file cannot be imported; ``errors`` lists every problem found, by line."""

    def __init__(self, errors: tuple[FormularyRowError, ...], source: str = "") -> None:
        self.errors = errors
        self.source = source
        super().__init__(summarise_errors("药品目录无法导入 / formulary import rejected", source, errors))


def formulary_sha256(data: bytes) -> str:
    """The SHA-256 of the file as imported, hex: records which formulary version a review used."""
    return hashlib.sha256(data).hexdigest()


def parse_formulary_csv(data: bytes, source: str) -> list[FormularyEntry]:
    """Parse a formulary in the import format (a header naming ``FORMULARY_COLUMNS``), all rows or none.

    The file is UTF-8 (a BOM is allowed) or GB18030, as Chinese Excel saves "CSV". Raises
    ``FormularyImportError`` with every problem found, each with its line number.
    """
    size_error = check_import_size(data)
    if size_error is not None:
        raise FormularyImportError((size_error,), source)
    text = decode_csv_bytes(data, allow_gb18030=True)
    if isinstance(text, CsvRowError):
        raise FormularyImportError((text,), source)
    errors: list[FormularyRowError] = []
    records = read_csv_table(text, FORMULARY_COLUMNS, FORMULARY_LABEL_COLUMNS, errors)
    if records is None:
        raise FormularyImportError(tuple(errors), source)
    entries: list[FormularyEntry] = []
    first_line_of_code: dict[str, int] = {}
    for record in records:
        entry = _entry(record, first_line_of_code, errors)
        if entry is not None:
            entries.append(entry)
    if not records and not errors:
        errors.append(FormularyRowError(
            None, None, "文件只有表头，没有任何药品", "the file has a header but no drugs",
        ))
    if errors:
        raise FormularyImportError(in_file_order(errors), source)
    return entries


def _entry(
    record: CsvRecord, first_line_of_code: dict[str, int], errors: list[FormularyRowError],
) -> FormularyEntry | None:
    line = record.line
    found: list[FormularyRowError] = []

    def problem(column: str, zh: str, en: str) -> None:
        found.append(FormularyRowError(line, column, zh, en))

    for column in (*FORMULARY_COLUMNS, *FORMULARY_LABEL_COLUMNS):
        value = record.cell(column)
        if has_control_character(value):
            problem(column, f"{quote_value(value)} 含有控制字符或换行", f"{quote_value(value)} contains a "
                    "control character or line break")
        limit = MAX_CELL_LENGTH.get(column)
        if limit is not None and len(value) > limit:
            problem(column, f"{quote_value(value)} 超过 {limit} 个字符", f"{quote_value(value)} is longer "
                    f"than {limit} characters")

    code = record.cell("code")
    if not code:
        problem("code", "药品代码为空", "the code is empty")
    elif code in first_line_of_code:
        first = first_line_of_code[code]
        problem("code", f"代码 {quote_value(code)} 与第 {first} 行重复", f"code {quote_value(code)} repeats "
                f"the one on line {first}")
    else:
        first_line_of_code[code] = line

    name_zh = record.cell("name_zh")
    if not name_zh:
        problem("name_zh", "中文名为空", "the Chinese name is empty")

    raw_atc = record.cell("atc")
    atc = normalise_atc(raw_atc) if raw_atc else None
    if raw_atc and atc is None:
        problem("atc", f"{quote_value(raw_atc)} 不是有效的 ATC 代码（应如 C08CA01）",
                f"{quote_value(raw_atc)} is not a valid ATC code (expected like C08CA01)")

    raw_category = record.cell("special_category")
    category = normalise_special_category(raw_category) if raw_category else None
    if raw_category and category is None:
        allowed = ", ".join(SPECIAL_CATEGORIES)
        problem("special_category",
                f"{quote_value(raw_category)} 不是已知的特殊管理类别（可用：{allowed}，或留空）",
                f"{quote_value(raw_category)} is not a known special category (one of: {allowed}, or empty)")

    max_daily = _max_daily_dose(record.cell("max_daily_dose_mg"), problem)

    raw_skin_test = record.cell("skin_test_required")
    skin_test = _yes_no(raw_skin_test)
    if skin_test is None:
        # No default: silently reading a blank as "no skin test" could let a penicillin through untested.
        shown = quote_value(raw_skin_test) if raw_skin_test else "空值"
        shown_en = quote_value(raw_skin_test) if raw_skin_test else "an empty cell"
        problem("skin_test_required", f"{shown} 不是是/否（可用 yes/no、y/n、true/false、1/0、是/否）",
                f"{shown_en} is not a yes or no (use yes/no, y/n, true/false, 1/0, 是/否)")

    package_size: int | None = None
    raw_package = record.cell("package_size")
    if raw_package:
        if not raw_package.isdigit() or not 0 < int(raw_package) <= 100_000:
            problem("package_size", f"{quote_value(raw_package)} 不是正整数（每包装含多少个处方数量单位）",
                    f"{quote_value(raw_package)} is not a positive whole number (units in one package)")
        else:
            package_size = int(raw_package)

    errors.extend(found)
    if found or skin_test is None:
        return None
    return FormularyEntry(
        code=code,
        name_zh=name_zh,
        name_en=record.cell("name_en") or None,
        generic_zh=record.cell("generic_zh") or None,
        generic_en=record.cell("generic_en") or None,
        atc=atc,
        dosage_form=record.cell("dosage_form") or None,
        strength=record.cell("strength") or None,
        special_category=category,
        max_daily_dose_mg=max_daily,
        skin_test_required=skin_test,
        ingredients_zh=split_list_cell(record.cell("ingredients_zh")),
        ingredients_en=split_list_cell(record.cell("ingredients_en")),
        storage=record.cell("storage") or None,
        label_warnings=split_list_cell(record.cell("label_warnings")),
        package_size=package_size,
        package_unit=record.cell("package_unit") or None,
    )


def _max_daily_dose(raw: str, problem: Callable[[str, str, str], None]) -> Decimal | None:
    if not raw:
        return None
    # Full-width digits and points come from Chinese input methods; they mean the same number.
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.startswith("-") and _DECIMAL.fullmatch(text[1:]):
        problem("max_daily_dose_mg", f"{quote_value(raw)} 是负数", f"{quote_value(raw)} is negative")
        return None
    if not _DECIMAL.fullmatch(text):
        problem("max_daily_dose_mg", f"{quote_value(raw)} 不是数字", f"{quote_value(raw)} is not a number")
        return None
    return Decimal(text)


def _yes_no(raw: str) -> bool | None:
    key = unicodedata.normalize("NFKC", raw).strip().casefold()
    if key in _YES:
        return True
    if key in _NO:
        return False
    return None
