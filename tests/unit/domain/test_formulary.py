"""Tests of the formulary import: the shared example, every refusal with its line number, and fuzzing."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.domain.errors import DomainError
from workstation.domain.formulary import (
    FORMULARY_COLUMNS,
    FormularyEntry,
    FormularyImportError,
    FormularyRowError,
    formulary_sha256,
    parse_formulary_csv,
)
from workstation.domain.special_drugs import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS

EXAMPLE = Path(__file__).resolve().parents[4] / "shared" / "examples" / "formulary.csv"

BASE: dict[str, str] = {
    "code": "D0001",
    "name_zh": "苯磺酸氨氯地平片",
    "name_en": "Amlodipine Besylate Tablets",
    "generic_zh": "氨氯地平",
    "generic_en": "amlodipine",
    "atc": "C08CA01",
    "dosage_form": "片剂",
    "strength": "5mg",
    "special_category": "",
    "max_daily_dose_mg": "10",
    "skin_test_required": "no",
    "ingredients_zh": "氨氯地平",
    "ingredients_en": "amlodipine",
}


def row(n: int, **changes: str) -> dict[str, str]:
    """A valid row with code D{n:04d}, with some cells changed."""
    return {**BASE, "code": f"D{n:04d}", **changes}


def to_csv(
    rows: list[dict[str, str]],
    columns: tuple[str, ...] = FORMULARY_COLUMNS,
    newline: str = "\n",
    quote_all: bool = False,
) -> str:
    out = io.StringIO(newline="")
    if quote_all:
        writer = csv.writer(out, lineterminator=newline, quoting=csv.QUOTE_ALL)
    else:
        writer = csv.writer(out, lineterminator=newline)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c, "") for c in columns])
    return out.getvalue()


def good_rows(count: int) -> list[dict[str, str]]:
    return [row(n) for n in range(1, count + 1)]


def errors_of(data: bytes) -> tuple[FormularyRowError, ...]:
    with pytest.raises(FormularyImportError) as caught:
        parse_formulary_csv(data, "test.csv")
    assert caught.value.errors, "an import error must say what is wrong"
    return caught.value.errors


def only_error(data: bytes) -> FormularyRowError:
    errors = errors_of(data)
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0]


# --- the shared example ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_entries() -> list[FormularyEntry]:
    if not EXAMPLE.is_file():
        pytest.skip(f"the shared example formulary is not at {EXAMPLE}")
    return parse_formulary_csv(EXAMPLE.read_bytes(), str(EXAMPLE))


def test_example_formulary_parses_with_the_right_types(example_entries: list[FormularyEntry]) -> None:
    assert 70 <= len(example_entries) <= 90
    assert len({e.code for e in example_entries}) == len(example_entries)
    for e in example_entries:
        assert isinstance(e, FormularyEntry)
        assert e.code and e.name_zh
        assert e.max_daily_dose_mg is None or isinstance(e.max_daily_dose_mg, Decimal)
        assert isinstance(e.skin_test_required, bool)
        assert isinstance(e.ingredients_zh, tuple) and isinstance(e.ingredients_en, tuple)
        assert e.atc is None or e.atc == e.atc.upper()


def test_example_formulary_values(example_entries: list[FormularyEntry]) -> None:
    by_code = {e.code: e for e in example_entries}
    amlodipine = by_code["D0001"]
    assert amlodipine.name_zh == "苯磺酸氨氯地平片"
    assert amlodipine.atc == "C08CA01"
    assert amlodipine.max_daily_dose_mg == Decimal(10)
    assert amlodipine.special_category is None
    assert amlodipine.skin_test_required is False
    assert by_code["D0005"].max_daily_dose_mg is None
    assert by_code["D0217"].max_daily_dose_mg == Decimal("1.5")
    assert by_code["D0023"].skin_test_required is True
    assert by_code["D0023"].strength == "80万单位"
    assert by_code["D0101"].special_category == "narcotic"
    assert by_code["D0108"].special_category == "psychotropic_1"
    assert by_code["D0115"].special_category == "precursor_chemical"  # written "precursor" in the file
    assert by_code["D0102"].ingredients_zh == ("羟考酮", "对乙酰氨基酚")
    assert by_code["D0102"].ingredients_en == ("oxycodone", "paracetamol")
    assert by_code["D0216"].atc == "A12AX"  # a level-4 code


def test_example_formulary_sha256_is_of_the_bytes() -> None:
    data = b"code,name_zh\n"
    assert formulary_sha256(data) == hashlib.sha256(data).hexdigest()
    assert len(formulary_sha256(b"")) == 64


# --- encodings ----------------------------------------------------------------------------------------------


def test_utf8_with_bom_parses() -> None:
    entries = parse_formulary_csv(b"\xef\xbb\xbf" + to_csv(good_rows(2)).encode("utf-8"), "bom.csv")
    assert [e.code for e in entries] == ["D0001", "D0002"]


def test_gb18030_export_from_chinese_excel_parses() -> None:
    rows = [row(1), row(2, name_zh="盐酸二甲双胍片", special_category="第二类精神药品",
                        skin_test_required="是")]
    entries = parse_formulary_csv(to_csv(rows, newline="\r\n").encode("gb18030"), "excel.csv")
    assert entries[0].name_zh == "苯磺酸氨氯地平片"
    assert entries[1].name_zh == "盐酸二甲双胍片"
    assert entries[1].special_category == "psychotropic_2"
    assert entries[1].skin_test_required is True


def test_example_formulary_reads_the_same_from_gb18030(example_entries: list[FormularyEntry]) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("\n", "\r\n")
    assert parse_formulary_csv(text.encode("gb18030"), "example-gb18030.csv") == example_entries


def test_bytes_neither_utf8_nor_gb18030_are_refused() -> None:
    header = to_csv([]).encode()
    error = only_error(header + b"D0001,\x80\xff\x80\xff,x\n")
    assert error.line == 2
    assert "GB18030" in error.message_zh and "neither UTF-8 nor GB18030" in error.message_en


def test_damaged_utf8_is_not_read_as_gb18030() -> None:
    # One stray Latin-1 byte in an otherwise UTF-8 file: guessing GB18030 would garble every Chinese name.
    text = to_csv(good_rows(5)).encode("utf-8")
    damaged = text.replace(b"5mg", b"5\xb5g", 1)
    error = only_error(damaged)
    assert error.line == 2
    assert "not valid UTF-8" in error.message_en


def test_utf8_with_bom_and_bad_bytes_is_damage() -> None:
    error = only_error(b"\xef\xbb\xbf" + to_csv([]).encode() + b"D1,\xc4\xe3\n")
    assert error.line == 2
    assert "UTF-8" in error.message_en


def test_utf16_gets_its_own_advice() -> None:
    error = only_error(to_csv(good_rows(1)).encode("utf-16"))
    assert "UTF-16" in error.message_en and "UTF-16" in error.message_zh


# --- file-level refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"  \r\n\n", b"\xef\xbb\xbf", b",,,\n,,\n"])
def test_empty_file_is_refused(data: bytes) -> None:
    error = only_error(data)
    assert error.line is None
    assert "empty" in error.message_en and "空" in error.message_zh


def test_header_without_rows_is_refused() -> None:
    error = only_error(to_csv([]).encode())
    assert "no drugs" in error.message_en


def test_missing_header_columns_are_named() -> None:
    columns = tuple(c for c in FORMULARY_COLUMNS if c not in {"atc", "skin_test_required"})
    error = only_error(to_csv(good_rows(1), columns).encode())
    assert error.line == 1
    assert error.message_en.endswith("the header lacks required column(s): atc, skin_test_required")
    assert "atc, skin_test_required" in error.message_zh


def test_header_after_blank_lines_keeps_file_line_numbers() -> None:
    text = "\n\n" + to_csv([row(1), row(2, max_daily_dose_mg="x")])
    error = only_error(text.encode())
    assert error.line == 5


def test_a_column_twice_in_the_header_is_refused() -> None:
    columns = (*FORMULARY_COLUMNS, "code")
    error = only_error(to_csv(good_rows(1), columns).encode())
    assert error.line == 1 and error.column == "code"
    assert "columns 1 and 14" in error.message_en


def test_extra_columns_are_ignored_and_column_order_is_free() -> None:
    columns = ("备注", *reversed(FORMULARY_COLUMNS), "price")
    rows = [{**r, "备注": "note", "price": "12.5"} for r in good_rows(3)]
    entries = parse_formulary_csv(to_csv(rows, columns).encode(), "reordered.csv")
    assert [e.code for e in entries] == ["D0001", "D0002", "D0003"]
    assert entries[0].atc == "C08CA01" and entries[0].max_daily_dose_mg == Decimal(10)


def test_header_names_are_matched_trimmed_and_case_insensitively() -> None:
    text = to_csv(good_rows(1))
    header, _, rest = text.partition("\n")
    shouted = ",".join(f" {name.upper()} " for name in header.split(","))
    entries = parse_formulary_csv(f"{shouted}\n{rest}".encode(), "caps.csv")
    assert entries[0].code == "D0001"


def test_file_over_20_mb_is_refused_before_parsing() -> None:
    data = to_csv(good_rows(1)).encode() + b" " * MAX_IMPORT_BYTES
    error = only_error(data)
    assert error.line is None
    assert "20 MB" in error.message_en and "20 MB" in error.message_zh


def test_file_over_100000_rows_is_refused() -> None:
    header = ",".join(FORMULARY_COLUMNS)
    body = "".join(f"C{n},名,,,,,,,,,no,,\n" for n in range(MAX_IMPORT_ROWS + 1))
    error = only_error(f"{header}\n{body}".encode())
    assert error.line is None
    assert "more than 100000 data rows" in error.message_en


# --- row checks, each with its exact line ----------------------------------------------------------------


def test_the_documented_message_shape() -> None:
    rows = good_rows(6)
    rows[5] = row(6, max_daily_dose_mg="1O")  # the sixth data row is line 7
    error = only_error(to_csv(rows).encode())
    assert (error.line, error.column) == (7, "max_daily_dose_mg")
    assert error.message == (
        "第 7 行 max_daily_dose_mg: '1O' 不是数字 / line 7 max_daily_dose_mg: '1O' is not a number"
    )
    assert str(error) == error.message


def test_all_errors_are_collected_not_just_the_first() -> None:
    rows = [
        row(1),
        row(2, code=""),  # line 3
        row(3, name_zh=" "),  # line 4
        row(4, atc="C8CA01", special_category="narcotics"),  # line 5, two errors
        row(5, max_daily_dose_mg="-5"),  # line 6
        row(6, skin_test_required="maybe"),  # line 7
        row(1),  # line 8: duplicate of line 2
    ]
    errors = errors_of(to_csv(rows).encode())
    assert [(e.line, e.column) for e in errors] == [
        (3, "code"),
        (4, "name_zh"),
        (5, "atc"),
        (5, "special_category"),
        (6, "max_daily_dose_mg"),
        (7, "skin_test_required"),
        (8, "code"),
    ]
    assert errors[-1].message_en == "line 8 code: code 'D0001' repeats the one on line 2"
    assert errors[-1].message_zh == "第 8 行 code: 代码 'D0001' 与第 2 行重复"
    assert errors[4].message_en == "line 6 max_daily_dose_mg: '-5' is negative"


def test_duplicate_code_names_the_first_occurrence_even_three_times() -> None:
    rows = [row(1), row(2), row(1), row(3), row(1)]
    errors = errors_of(to_csv(rows).encode())
    assert [(e.line, e.message_en.rsplit(" ", 1)[-1]) for e in errors] == [(4, "2"), (6, "2")]


def test_codes_are_trimmed_before_the_uniqueness_check() -> None:
    errors = errors_of(to_csv([row(1), row(2, code=" D0001 ")]).encode())
    assert [(e.line, e.column) for e in errors] == [(3, "code")]


def test_error_carries_the_source_and_is_a_domain_error() -> None:
    with pytest.raises(FormularyImportError) as caught:
        parse_formulary_csv(to_csv([row(1, name_zh="")]).encode(), "pharmacy-2026.csv")
    assert isinstance(caught.value, DomainError)
    assert caught.value.source == "pharmacy-2026.csv"
    text = str(caught.value)
    assert "pharmacy-2026.csv" in text and "line 2 name_zh: the Chinese name is empty" in text


def test_a_long_error_list_is_summarised() -> None:
    rows = [row(n, skin_test_required="?") for n in range(1, 31)]
    with pytest.raises(FormularyImportError) as caught:
        parse_formulary_csv(to_csv(rows).encode(), "many.csv")
    assert len(caught.value.errors) == 30
    assert "and 10 more" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("n", "N"), ("N02", "N02"), ("n02a", "N02A"), ("N02aa", "N02AA"), ("n02aa05", "N02AA05"),
     (" C08CA01 ", "C08CA01"), ("Ｃ０８ＣＡ０１", "C08CA01")],
)
def test_atc_levels_1_to_5_are_accepted_and_upper_cased(raw: str, expected: str) -> None:
    [entry] = parse_formulary_csv(to_csv([row(1, atc=raw)]).encode(), "atc.csv")
    assert entry.atc == expected


@pytest.mark.parametrize(
    "raw", ["N2", "N02A5", "N02AA5", "N02AA051", "02AA05", "N02-AA05", "X02AA05", "N02ÅA05", "ß"],
)
def test_atc_of_the_wrong_shape_is_refused(raw: str) -> None:
    error = only_error(to_csv([row(1), row(2, atc=raw)]).encode())
    assert (error.line, error.column) == (3, "atc")
    assert "is not a valid ATC code" in error.message_en


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("narcotic", "narcotic"), ("Psychotropic_1", "psychotropic_1"), ("psychotropic_2", "psychotropic_2"),
        ("toxic", "toxic"), ("radioactive", "radioactive"), ("precursor_chemical", "precursor_chemical"),
        ("online_sale_prohibited", "online_sale_prohibited"), ("precursor", "precursor_chemical"),
        (" PRECURSOR ", "precursor_chemical"), ("麻醉药品", "narcotic"), ("第一类精神药品", "psychotropic_1"),
        ("第二类精神药品", "psychotropic_2"), ("医疗用毒性药品", "toxic"), ("放射性药品", "radioactive"),
        ("药品类易制毒化学品", "precursor_chemical"), ("", None),
    ],
)
def test_special_category_aliases_are_normalised(raw: str, expected: str | None) -> None:
    [entry] = parse_formulary_csv(to_csv([row(1, special_category=raw)]).encode(), "cat.csv")
    assert entry.special_category == expected


@pytest.mark.parametrize("raw", ["narcotics", "精神药品", "controlled", "1"])
def test_unknown_special_category_is_refused(raw: str) -> None:
    error = only_error(to_csv([row(1, special_category=raw)]).encode())
    assert (error.line, error.column) == (2, "special_category")
    assert "online_sale_prohibited" in error.message_en  # the message lists the allowed values


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", None), ("0", Decimal(0)), ("2.5", Decimal("2.5")), ("2550", Decimal(2550)), (".5", Decimal("0.5")),
     ("１０", Decimal(10)), (" 40 ", Decimal(40))],
)
def test_max_daily_dose_accepts_plain_non_negative_decimals(raw: str, expected: Decimal | None) -> None:
    [entry] = parse_formulary_csv(to_csv([row(1, max_daily_dose_mg=raw)]).encode(), "dose.csv")
    assert entry.max_daily_dose_mg == expected


@pytest.mark.parametrize("raw", ["1O", "1e3", "NaN", "Infinity", "10mg", "1,000", "+5", "5.5.5", "٣"])
def test_max_daily_dose_that_is_not_a_number_is_refused(raw: str) -> None:
    error = only_error(to_csv([row(1, max_daily_dose_mg=raw)]).encode())
    assert (error.line, error.column) == (2, "max_daily_dose_mg")
    assert error.message_en.endswith("is not a number")


def test_max_daily_dose_longer_than_its_column_is_refused() -> None:
    error = only_error(to_csv([row(1, max_daily_dose_mg="1" * 33)]).encode())
    assert (error.line, error.column) == (2, "max_daily_dose_mg")
    assert "longer than 32 characters" in error.message_en


@pytest.mark.parametrize("raw", ["yes", "Y", "TRUE", "1", "是", " yes "])
def test_skin_test_truthy_spellings(raw: str) -> None:
    [entry] = parse_formulary_csv(to_csv([row(1, skin_test_required=raw)]).encode(), "skin.csv")
    assert entry.skin_test_required is True


@pytest.mark.parametrize("raw", ["no", "N", "False", "0", "否"])
def test_skin_test_falsy_spellings(raw: str) -> None:
    [entry] = parse_formulary_csv(to_csv([row(1, skin_test_required=raw)]).encode(), "skin.csv")
    assert entry.skin_test_required is False


@pytest.mark.parametrize("raw", ["", "maybe", "需要", "2"])
def test_skin_test_unrecognised_or_blank_is_refused(raw: str) -> None:
    error = only_error(to_csv([row(1, skin_test_required=raw)]).encode())
    assert (error.line, error.column) == (2, "skin_test_required")


def test_ingredients_split_on_both_semicolons_trimmed_empties_dropped() -> None:
    [entry] = parse_formulary_csv(
        to_csv([row(1, ingredients_zh=" 羟考酮 ；对乙酰氨基酚;; ",
                    ingredients_en="oxycodone ; paracetamol;")]).encode(),
        "ingredients.csv",
    )
    assert entry.ingredients_zh == ("羟考酮", "对乙酰氨基酚")
    assert entry.ingredients_en == ("oxycodone", "paracetamol")


def test_empty_optional_text_cells_become_none() -> None:
    [entry] = parse_formulary_csv(
        to_csv([row(1, name_en="", generic_zh=" ", generic_en="", atc="", dosage_form="", strength="",
                    ingredients_zh="", ingredients_en="")]).encode(),
        "sparse.csv",
    )
    assert (entry.name_en, entry.generic_zh, entry.generic_en, entry.atc) == (None, None, None, None)
    assert (entry.dosage_form, entry.strength) == (None, None)
    assert (entry.ingredients_zh, entry.ingredients_en) == ((), ())


def test_row_with_the_wrong_number_of_fields() -> None:
    text = to_csv(good_rows(3)) + "D0009,只有三个字段,x\n" + to_csv([row(10)]).split("\n", 1)[1]
    error = only_error(text.encode())
    assert error.line == 5
    assert error.message_en == "line 5: has 3 fields, the header has 13"


def test_unclosed_quote_is_reported_at_the_row_it_starts() -> None:
    text = to_csv(good_rows(2)) + 'D0003,"unclosed,x\n' + to_csv([row(4), row(5)]).split("\n", 1)[1]
    error = only_error(text.encode())
    assert error.line == 4
    assert "quotation mark" in error.message_en


def test_control_characters_in_a_cell_are_refused() -> None:
    error = only_error(to_csv([row(1), row(2, name_zh="阿莫西林\x00胶囊")]).encode())
    assert (error.line, error.column) == (3, "name_zh")
    assert "\\x00" in error.message_en  # shown escaped, not as an invisible character


def test_line_numbers_count_lines_of_a_multiline_cell_and_crlf() -> None:
    rows = [row(1), row(2, name_en="two\r\nlines"), row(3), row(4, atc="bad")]
    errors = errors_of(to_csv(rows, newline="\r\n").encode())
    assert [(e.line, e.column) for e in errors] == [(3, "name_en"), (6, "atc")]


def test_blank_rows_are_skipped_and_do_not_shift_line_numbers() -> None:
    text = to_csv([row(1)]) + "\n,,,,,,,,,,,,\n" + to_csv([row(2, code="")]).split("\n", 1)[1]
    error = only_error(text.encode())
    assert error.line == 5


def test_code_longer_than_its_database_column_is_refused() -> None:
    error = only_error(to_csv([row(1, code="X" * 65)]).encode())
    assert (error.line, error.column) == (2, "code")
    assert "longer than 64 characters" in error.message_en


def test_oversized_cell_stops_the_reader_with_a_line_number() -> None:
    text = to_csv(good_rows(2)) + 'D0003,"' + "长" * 140_000 + '",\n'
    error = only_error(text.encode())
    assert error.line == 4
    assert "cannot read on" in error.message_en


# --- the entry's own invariants -------------------------------------------------------------------------


def test_entry_refuses_what_an_import_would_refuse() -> None:
    good = parse_formulary_csv(to_csv([row(1)]).encode(), "one.csv")[0]
    with pytest.raises(ValueError):
        replace(good, code=" ")
    with pytest.raises(ValueError):
        replace(good, name_zh="")
    with pytest.raises(ValueError):
        replace(good, special_category="precursor")  # aliases are for parsing only
    with pytest.raises(ValueError):
        replace(good, max_daily_dose_mg=Decimal(-1))
    with pytest.raises(ValueError):
        replace(good, max_daily_dose_mg=Decimal("NaN"))


# --- property-based: the parser's contract ------------------------------------------------------------------


@given(st.binary(max_size=2_000))
@settings(max_examples=300)
def test_arbitrary_bytes_either_parse_or_raise_the_typed_error(data: bytes) -> None:
    try:
        entries = parse_formulary_csv(data, "fuzz.csv")
    except FormularyImportError as exc:
        assert exc.errors
        assert all(isinstance(e, FormularyRowError) for e in exc.errors)
    else:
        assert all(isinstance(e, FormularyEntry) for e in entries)


@given(st.binary(max_size=1_000))
@settings(max_examples=300)
def test_arbitrary_bytes_after_a_valid_header_either_parse_or_raise_the_typed_error(tail: bytes) -> None:
    try:
        parse_formulary_csv(",".join(FORMULARY_COLUMNS).encode() + b"\n" + tail, "fuzz.csv")
    except FormularyImportError as exc:
        assert exc.errors


@given(st.text(max_size=1_000))
@settings(max_examples=300)
def test_arbitrary_text_after_a_valid_header_either_parses_or_raises_the_typed_error(tail: str) -> None:
    try:
        parse_formulary_csv((",".join(FORMULARY_COLUMNS) + "\n" + tail).encode("utf-8"), "fuzz.csv")
    except FormularyImportError as exc:
        assert exc.errors
        assert all(e.line is None or e.line >= 1 for e in exc.errors)


@given(
    index=st.integers(min_value=0, max_value=7),
    column=st.sampled_from(FORMULARY_COLUMNS),
    text=st.text(max_size=40),
    crlf=st.booleans(),
)
@settings(max_examples=400)
def test_one_mutated_cell_gives_success_or_errors_naming_its_line(
    index: int, column: str, text: str, crlf: bool,
) -> None:
    rows = good_rows(8)
    rows[index] = {**rows[index], column: text}
    # QUOTE_ALL because the csv writer leaves a lone "\r" unquoted when the line terminator is "\n", which
    # really would put the row on another line.
    data = to_csv(rows, newline="\r\n" if crlf else "\n", quote_all=True)
    line = index + 2  # the header is line 1 and no earlier row spans more than one line
    try:
        entries = parse_formulary_csv(data.encode("utf-8"), "mutated.csv")
    except FormularyImportError as exc:
        for error in exc.errors:
            # The one exception: the mutated code now equals a later row's code, which is then the repeat.
            repeat_of_mutated = error.column == "code" and error.message_en.endswith(f"on line {line}")
            assert error.line == line or repeat_of_mutated, error.message
    else:
        assert len(entries) == 8
