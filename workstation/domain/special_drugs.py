"""The regulatory lists of specially managed drugs (特殊管理药品), and CSV reading shared by list imports."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from workstation.domain.errors import DomainError

# In the order of the table in special_drugs.md; categories() and error messages list them in this order.
SPECIAL_CATEGORIES: Final[tuple[str, ...]] = (
    "narcotic",
    "psychotropic_1",
    "psychotropic_2",
    "toxic",
    "radioactive",
    "precursor_chemical",
    "online_sale_prohibited",
)

# Which review rule (shared/reference/review-rules.md) each category feeds, as special_drugs.md says.
RULE_FOR_CATEGORY: Final[Mapping[str, str]] = MappingProxyType({
    "narcotic": "special_drug.narcotic",
    "psychotropic_1": "special_drug.psychotropic",
    "psychotropic_2": "special_drug.psychotropic",
    "toxic": "special_drug.other_restricted",
    "radioactive": "special_drug.other_restricted",
    "precursor_chemical": "special_drug.other_restricted",
    "online_sale_prohibited": "special_drug.online_sale_prohibited",
})

# The names a pharmacist uses for each category; also accepted as input, since Chinese spreadsheets use them.
CATEGORY_NAME_ZH: Final[Mapping[str, str]] = MappingProxyType({
    "narcotic": "麻醉药品",
    "psychotropic_1": "第一类精神药品",
    "psychotropic_2": "第二类精神药品",
    "toxic": "医疗用毒性药品",
    "radioactive": "放射性药品",
    "precursor_chemical": "药品类易制毒化学品",
    "online_sale_prohibited": "药品网络销售禁止清单",
})

_CATEGORY_ALIASES: Final[Mapping[str, str]] = MappingProxyType({
    **{category: category for category in SPECIAL_CATEGORIES},
    **{name_zh: category for category, name_zh in CATEGORY_NAME_ZH.items()},
    # The shared example formulary writes "precursor" for this category; it means the same list.
    "precursor": "precursor_chemical",
})

# Both imports refuse files beyond these before parsing, so a wrong file picked by mistake (a database dump,
# a video) fails fast with a clear message instead of exhausting memory.
MAX_IMPORT_BYTES: Final = 20 * 1024 * 1024
MAX_IMPORT_ROWS: Final = 100_000

# WHO ATC levels 1-5 (e.g. N, N02, N02A, N02AA, N02AA05). The first letter is one of the 14 anatomical main
# groups, which catches typos like "O02AA05" that the bare letter/digit shape would let through.
_ATC_SHAPE: Final = re.compile(r"[ABCDGHJLMNPRSV](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?")

SPECIAL_DRUG_COLUMNS: Final[tuple[str, ...]] = (
    "category", "name_zh", "name_en", "atc_code", "rxnorm_ingredient",
)
# A pharmacy compiling its own list may have no provenance notes; how a row is read does not depend on them.
SPECIAL_DRUG_OPTIONAL_COLUMNS: Final[tuple[str, ...]] = ("notes", "source")

_LIST_SEPARATORS: Final = re.compile(r"[;；]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly Unicode category Cc


def normalise_special_category(raw: str) -> str | None:
    """The category ``raw`` names (an id, an alias or the Chinese name), or ``None`` if it names none."""
    key = unicodedata.normalize("NFKC", raw).strip().casefold()
    return _CATEGORY_ALIASES.get(key)


def normalise_atc(raw: str) -> str | None:
    """``raw`` as an upper-case WHO ATC code of level 1-5, or ``None`` if it does not have that shape."""
    text = unicodedata.normalize("NFKC", raw).strip()
    # Checked before upper() because upper() turns some non-ASCII letters into ASCII ones ("ß" -> "SS").
    if not text.isascii():
        return None
    text = text.upper()
    return text if _ATC_SHAPE.fullmatch(text) else None


def split_list_cell(raw: str) -> tuple[str, ...]:
    """The items of a ';'- or '；'-separated cell, trimmed, empty items dropped."""
    return tuple(item for part in _LIST_SEPARATORS.split(raw) if (item := part.strip()))


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, a line break...): never meant in a name or a code."""
    return _CONTROL.search(text) is not None


def quote_value(value: str, limit: int = 40) -> str:
    """``value`` quoted for an error message, control characters escaped, cut short if long."""
    shown = value if len(value) <= limit else value[:limit] + "…"
    return repr(shown)


@dataclass(frozen=True, slots=True)
class CsvRowError:
    """One problem found in an imported CSV file: where it is and what it is, in Chinese and English."""

    line: int | None  # as an editor numbers it, the header being line 1; None when it concerns the whole file
    column: str | None
    text_zh: str
    text_en: str

    @property
    def message_zh(self) -> str:
        return _located(f"第 {self.line} 行" if self.line is not None else None, self.column, self.text_zh)

    @property
    def message_en(self) -> str:
        return _located(f"line {self.line}" if self.line is not None else None, self.column, self.text_en)

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"

    def __str__(self) -> str:
        return self.message


def _located(where: str | None, column: str | None, text: str) -> str:
    prefix = " ".join(part for part in (where, column) if part)
    return f"{prefix}: {text}" if prefix else text


def summarise_errors(title: str, source: str, errors: Sequence[CsvRowError], shown: int = 20) -> str:
    """A readable summary of ``errors``: the title, the source and the first ``shown`` messages."""
    where = f" ({source})" if source else ""
    head = f"{title}{where}: {len(errors)} 个问题 / {len(errors)} problem(s)"
    lines = [head, *(f"  {error.message}" for error in errors[:shown])]
    if len(errors) > shown:
        rest = len(errors) - shown
        lines.append(f"  …另有 {rest} 个问题 / … and {rest} more")
    return "\n".join(lines)


def in_file_order(errors: Sequence[CsvRowError]) -> tuple[CsvRowError, ...]:
    """``errors`` ordered by line, as a pharmacist fixes them top to bottom; whole-file ones last."""
    # Stable, so problems on one line keep the order of the columns they were found in.
    return tuple(sorted(errors, key=lambda e: e.line if e.line is not None else float("inf")))


def check_import_size(data: bytes) -> CsvRowError | None:
    """The error for a file too large to import, or ``None``."""
    if len(data) > MAX_IMPORT_BYTES:
        mib = MAX_IMPORT_BYTES // (1024 * 1024)
        return CsvRowError(
            None, None,
            f"文件有 {len(data)} 字节，超过 {mib} MB 的上限，拒绝导入",
            f"the file has {len(data)} bytes, more than the {mib} MB limit; refused",
        )
    return None


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_csv_bytes(data: bytes, *, allow_gb18030: bool) -> str | CsvRowError:
    """``data`` as text: UTF-8 (a BOM allowed) or, when allowed and plausible, GB18030; else the error."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: common enough to deserve its own advice.
        return CsvRowError(
            None, None,
            "文件是 UTF-16 编码；请另存为 “CSV UTF-8（逗号分隔）”",
            "the file is UTF-16 encoded; save it as \"CSV UTF-8 (comma delimited)\"",
        )
    has_bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if has_bom else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_offset = exc.start
    bad_line = _line_of_offset(body, bad_offset)
    # A BOM says the author meant UTF-8, so a decoding failure then is damage, not another encoding.
    if allow_gb18030 and not has_bom and not _looks_like_damaged_utf8(body):
        try:
            return body.decode("gb18030")
        except UnicodeDecodeError:
            pass
        return CsvRowError(
            bad_line, None,
            f"文件既不是 UTF-8 也不是 GB18030 编码（第 {bad_line} 行起有无法识别的字节）",
            f"the file is neither UTF-8 nor GB18030 encoded (unreadable bytes from line {bad_line})",
        )
    return CsvRowError(
        bad_line, None,
        f"文件不是有效的 UTF-8 编码（第 {bad_line} 行，字节位置 {bad_offset}）；请另存为 “CSV UTF-8”",
        f"the file is not valid UTF-8 (line {bad_line}, byte {bad_offset}); save it as \"CSV UTF-8\"",
    )


def _looks_like_damaged_utf8(body: bytes) -> bool:
    # GB18030 decodes most byte soups, including UTF-8 Chinese text, into plausible-looking nonsense. A file
    # that is mostly valid UTF-8 multi-byte text with a few bad bytes (a truncated copy, one stray Latin-1
    # character) is a damaged UTF-8 file: reading it as GB18030 would import every Chinese name garbled.
    # A real GB18030 file decoded as UTF-8 gives far more invalid sequences than valid multi-byte ones.
    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    valid_multibyte = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return valid_multibyte > invalid


@dataclass(frozen=True, slots=True)
class CsvRecord:
    """One data row of a CSV file, its cells trimmed and keyed by the header's column names."""

    line: int  # the line the row starts on
    last_line: int  # differs from ``line`` when a quoted cell holds line breaks
    cells: Mapping[str, str]

    def cell(self, column: str) -> str:
        return self.cells.get(column, "")


def read_csv_table(
    text: str,
    required: Sequence[str],
    optional: Sequence[str],
    errors: list[CsvRowError],
) -> tuple[CsvRecord, ...] | None:
    """The data rows of ``text``, problems appended to ``errors``; ``None`` when the file cannot be read on.

    Header names are matched trimmed and case-insensitively, in any order; other columns are ignored.
    Blank rows are skipped. A row with the wrong number of cells is reported and left out.
    """
    text = text.lstrip("\ufeff")  # a BOM may survive a GB18030 decode, or be doubled by an editor
    if not text.strip():
        errors.append(CsvRowError(None, None, "文件是空的", "the file is empty"))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    previous_line = 0
    header: list[str] | None = None
    positions: dict[str, int] = {}
    records: list[CsvRecord] = []
    data_rows = 0
    while True:
        first_line = previous_line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # The reader cannot be trusted to resynchronise (a quoted cell may run on); stop here.
            errors.append(_csv_syntax_error(first_line, exc))
            return None if header is None else tuple(records)
        last_line = reader.line_num
        previous_line = last_line
        if all(not cell.strip() for cell in row):
            continue
        if header is None:
            header = row
            found = _header_positions(header, first_line, required, optional, errors)
            if found is None:
                return None
            positions = found
            continue
        data_rows += 1
        if data_rows > MAX_IMPORT_ROWS:
            errors.append(CsvRowError(
                None, None,
                f"文件超过 {MAX_IMPORT_ROWS} 行数据，拒绝导入",
                f"the file has more than {MAX_IMPORT_ROWS} data rows; refused",
            ))
            return None  # refused as a whole: checking its rows would only bury this message
        if len(row) != len(header):
            errors.append(_width_error(first_line, last_line, len(row), len(header)))
            continue
        cells = {column: row[index].strip() for column, index in positions.items()}
        records.append(CsvRecord(first_line, last_line, MappingProxyType(cells)))
    if header is None:  # every row was blank, e.g. a sheet of empty cells: ",,,"
        errors.append(CsvRowError(None, None, "文件是空的", "the file is empty"))
        return None
    return tuple(records)


def _csv_syntax_error(line: int, exc: csv.Error) -> CsvRowError:
    if "field larger than field limit" in str(exc):
        limit = csv.field_size_limit()
        return CsvRowError(
            line, None,
            f"某个单元格超过 {limit} 个字符（可能缺少右引号），无法继续读取",
            f"a cell is longer than {limit} characters (perhaps a missing closing quote); cannot read on",
        )
    return CsvRowError(
        line, None,
        f"CSV 格式错误（{exc}），无法继续读取",
        f"malformed CSV ({exc}); cannot read on",
    )


def _width_error(first_line: int, last_line: int, width: int, expected: int) -> CsvRowError:
    if last_line > first_line:
        # A row running over several lines almost always means an unbalanced quotation mark.
        return CsvRowError(
            first_line, None,
            f"有 {width} 个字段，表头有 {expected} 个；该行延续到第 {last_line} 行，可能缺少右引号",
            f"has {width} fields, the header has {expected}; the row runs on to line {last_line}, "
            "perhaps a quotation mark is not closed",
        )
    return CsvRowError(
        first_line, None,
        f"有 {width} 个字段，表头有 {expected} 个",
        f"has {width} fields, the header has {expected}",
    )


def _header_positions(
    header: Sequence[str],
    line: int,
    required: Sequence[str],
    optional: Sequence[str],
    errors: list[CsvRowError],
) -> dict[str, int] | None:
    names = [unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff").casefold() for cell in header]
    wanted = (*required, *optional)
    positions: dict[str, int] = {}
    problems = False
    for index, name in enumerate(names):
        if name not in wanted:
            continue
        if name in positions:
            # Two columns of the same name: whichever we picked, half the file would be read wrongly.
            errors.append(CsvRowError(
                line, name, f"表头中出现了两次（第 {positions[name] + 1} 列和第 {index + 1} 列）",
                f"appears twice in the header (columns {positions[name] + 1} and {index + 1})",
            ))
            problems = True
            continue
        positions[name] = index
    missing = [column for column in required if column not in positions]
    if missing:
        listed = ", ".join(missing)
        errors.append(CsvRowError(
            line, None, f"表头缺少必需的列：{listed}", f"the header lacks required column(s): {listed}",
        ))
        problems = True
    return None if problems else positions


# --- the special drug lists ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecialDrugEntry:
    """One listed substance, class or named preparation, and the category of the list it is on."""

    category: str
    name_zh: str  # "" when the row names it only in English
    name_en: str  # "" when the row names it only in Chinese
    atc_code: str | None
    rxnorm_ingredient: str | None  # as RxNorm spells it; several are separated by ';'
    notes: str
    source: str  # the provenance of this row, as the list states it

    def __post_init__(self) -> None:
        if self.category not in RULE_FOR_CATEGORY:
            raise ValueError(f"unknown special drug category {self.category!r}")
        if not self.name_zh and not self.name_en:
            raise ValueError("a special drug entry needs a Chinese or an English name")

    @property
    def rule_id(self) -> str:
        """The review rule a drug matching this entry raises."""
        return RULE_FOR_CATEGORY[self.category]

    def names(self) -> tuple[str, ...]:
        """Every name the row gives, Chinese first; a cell may list several, separated by ';' or '；'."""
        return (*split_list_cell(self.name_zh), *split_list_cell(self.name_en))

    def rxnorm_ingredients(self) -> tuple[str, ...]:
        """The RxNorm ingredient names of the row, one per ingredient."""
        return split_list_cell(self.rxnorm_ingredient or "")


@dataclass(frozen=True, slots=True)
class SpecialDrugList:
    """One version of the regulatory lists: its entries and which file they came from."""

    entries: tuple[SpecialDrugEntry, ...]
    sha256: str  # of the file's bytes, so the audit trail can say which list a review used
    source: str  # where the file came from: "packaged", a path, an import label

    def by_category(self, category: str) -> tuple[SpecialDrugEntry, ...]:
        """The entries of ``category`` (a category id, an alias or its Chinese name), in file order."""
        canonical = normalise_special_category(category)
        if canonical is None:
            raise ValueError(f"unknown special drug category {category!r}")
        return tuple(entry for entry in self.entries if entry.category == canonical)

    def categories(self) -> tuple[str, ...]:
        """The categories the list holds entries for, in the order of ``SPECIAL_CATEGORIES``."""
        present = {entry.category for entry in self.entries}
        return tuple(category for category in SPECIAL_CATEGORIES if category in present)


class SpecialDrugListError(DomainError):
    """A special drug list file cannot be used; ``errors`` lists every problem found, by line."""

    def __init__(self, errors: tuple[CsvRowError, ...], source: str = "") -> None:
        self.errors = errors
        self.source = source
        title = "特殊管理药品目录无法导入 / special drug list rejected"
        super().__init__(summarise_errors(title, source, errors))


def parse_special_drugs_csv(data: bytes, source: str) -> SpecialDrugList:
    """Parse a special drug list (the format of ``resources/regulatory/special_drugs.csv``).

    Raises ``SpecialDrugListError`` carrying every problem found, each with its line number.
    """
    size_error = check_import_size(data)
    if size_error is not None:
        raise SpecialDrugListError((size_error,), source)
    # UTF-8 only: this file decides which drugs are blocked, so no guessing at encodings.
    text = decode_csv_bytes(data, allow_gb18030=False)
    if isinstance(text, CsvRowError):
        raise SpecialDrugListError((text,), source)
    errors: list[CsvRowError] = []
    records = read_csv_table(text, SPECIAL_DRUG_COLUMNS, SPECIAL_DRUG_OPTIONAL_COLUMNS, errors)
    if records is None:
        raise SpecialDrugListError(tuple(errors), source)
    entries = [entry for record in records if (entry := _special_drug_entry(record, errors)) is not None]
    if not records and not errors:
        errors.append(CsvRowError(None, None, "目录中没有任何药品", "the list holds no entries"))
    elif records:
        # Rows refused for another reason still show their category is there: do not report it absent too.
        present = {normalise_special_category(record.cell("category")) for record in records}
        absent = [category for category in SPECIAL_CATEGORIES if category not in present]
        if absent:
            # A real list always has all of them: one without narcotics is a truncated or wrong file.
            listed_en = ", ".join(absent)
            listed_zh = "、".join(f"{CATEGORY_NAME_ZH[c]}（{c}）" for c in absent)
            errors.append(CsvRowError(
                None, "category",
                f"目录中没有以下类别的任何条目：{listed_zh}；文件可能不完整",
                f"the list has no entry at all in: {listed_en}; the file is probably incomplete",
            ))
    if errors:
        raise SpecialDrugListError(in_file_order(errors), source)
    return SpecialDrugList(tuple(entries), hashlib.sha256(data).hexdigest(), source)


def _special_drug_entry(record: CsvRecord, errors: list[CsvRowError]) -> SpecialDrugEntry | None:
    found: list[CsvRowError] = []
    line = record.line
    for column in SPECIAL_DRUG_COLUMNS:
        if has_control_character(record.cell(column)):
            found.append(CsvRowError(
                line, column, f"{quote_value(record.cell(column))} 含有控制字符或换行",
                f"{quote_value(record.cell(column))} contains a control character or line break",
            ))
    raw_category = record.cell("category")
    category = normalise_special_category(raw_category)
    if not raw_category:
        found.append(CsvRowError(line, "category", "类别为空", "the category is empty"))
    elif category is None:
        allowed = ", ".join(SPECIAL_CATEGORIES)
        found.append(CsvRowError(
            line, "category", f"{quote_value(raw_category)} 不是已知的类别（可用：{allowed}）",
            f"{quote_value(raw_category)} is not a known category (one of: {allowed})",
        ))
    name_zh, name_en = record.cell("name_zh"), record.cell("name_en")
    if not name_zh and not name_en:
        found.append(CsvRowError(
            line, "name_zh", "中文名和英文名都为空", "both the Chinese and the English name are empty",
        ))
    raw_atc = record.cell("atc_code")
    atc = normalise_atc(raw_atc) if raw_atc else None
    if raw_atc and atc is None:
        found.append(CsvRowError(
            line, "atc_code", f"{quote_value(raw_atc)} 不是有效的 ATC 代码（应如 N02AA05）",
            f"{quote_value(raw_atc)} is not a valid ATC code (expected like N02AA05)",
        ))
    errors.extend(found)
    if found or category is None:
        return None
    return SpecialDrugEntry(
        category=category,
        name_zh=name_zh,
        name_en=name_en,
        atc_code=atc,
        rxnorm_ingredient=record.cell("rxnorm_ingredient") or None,
        notes=record.cell("notes"),
        source=record.cell("source"),
    )
