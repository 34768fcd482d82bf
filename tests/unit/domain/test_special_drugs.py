"""Tests of the special drug lists: the packaged file, every refusal with its line number, and fuzzing."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resources import read_resource
from workstation.domain.errors import DomainError
from workstation.domain.special_drugs import (
    CATEGORY_NAME_ZH,
    RULE_FOR_CATEGORY,
    SPECIAL_CATEGORIES,
    SPECIAL_DRUG_COLUMNS,
    CsvRowError,
    SpecialDrugEntry,
    SpecialDrugList,
    SpecialDrugListError,
    normalise_atc,
    normalise_special_category,
    parse_special_drugs_csv,
)

SHARED_REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference"
COLUMNS = (*SPECIAL_DRUG_COLUMNS, "notes", "source")

# One valid row per category, so a test can break exactly one thing.
MINIMAL: list[dict[str, str]] = [
    {"category": "narcotic", "name_zh": "羟考酮", "name_en": "oxycodone", "atc_code": "N02AA05",
     "rxnorm_ingredient": "oxycodone", "notes": "单方 narcotic; compounds by strength", "source": "test"},
    {"category": "psychotropic_1", "name_zh": "哌甲酯", "name_en": "methylphenidate", "atc_code": "N06BA04",
     "rxnorm_ingredient": "methylphenidate", "notes": "", "source": "test"},
    {"category": "psychotropic_2", "name_zh": "地西泮", "name_en": "diazepam", "atc_code": "N05BA01",
     "rxnorm_ingredient": "diazepam", "notes": "", "source": "test"},
    {"category": "toxic", "name_zh": "阿托品", "name_en": "atropine", "atc_code": "A03BA01",
     "rxnorm_ingredient": "atropine", "notes": "", "source": "test"},
    {"category": "radioactive", "name_zh": "碘[131I]化钠", "name_en": "sodium iodide (131I)",
     "atc_code": "V10XA01", "rxnorm_ingredient": "", "notes": "", "source": "test"},
    {"category": "precursor_chemical", "name_zh": "麻黄碱", "name_en": "ephedrine", "atc_code": "R01AA03",
     "rxnorm_ingredient": "ephedrine", "notes": "", "source": "test"},
    {"category": "online_sale_prohibited", "name_zh": "含麻醉药品口服复方制剂",
     "name_en": "oral compound preparations containing narcotic drugs (class)", "atc_code": "",
     "rxnorm_ingredient": "", "notes": "class", "source": "test"},
]


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


def with_changes(index: int, **changes: str) -> list[dict[str, str]]:
    rows = [dict(r) for r in MINIMAL]
    rows[index].update(changes)
    return rows


def errors_of(data: bytes) -> tuple[CsvRowError, ...]:
    with pytest.raises(SpecialDrugListError) as caught:
        parse_special_drugs_csv(data, "test.csv")
    assert caught.value.errors
    return caught.value.errors


def only_error(data: bytes) -> CsvRowError:
    errors = errors_of(data)
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0]


# --- the packaged list -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged_bytes() -> bytes:
    return read_resource("regulatory", "special_drugs.csv")


@pytest.fixture(scope="module")
def packaged(packaged_bytes: bytes) -> SpecialDrugList:
    return parse_special_drugs_csv(packaged_bytes, "packaged")


def test_packaged_list_parses_with_every_category(packaged: SpecialDrugList, packaged_bytes: bytes) -> None:
    assert packaged.categories() == SPECIAL_CATEGORIES
    assert len(packaged.entries) > 250
    assert packaged.sha256 == hashlib.sha256(packaged_bytes).hexdigest()
    assert packaged.source == "packaged"
    for category in SPECIAL_CATEGORIES:
        assert packaged.by_category(category), category


def test_packaged_list_holds_oxycodone_as_a_narcotic(packaged: SpecialDrugList) -> None:
    [oxycodone] = [e for e in packaged.entries if e.name_zh == "羟考酮"]
    assert oxycodone.category == "narcotic"
    assert oxycodone.name_en == "oxycodone"
    assert oxycodone.atc_code == "N02AA05"
    assert oxycodone.rxnorm_ingredient == "oxycodone"
    assert oxycodone.rule_id == "special_drug.narcotic"
    assert oxycodone in packaged.by_category("narcotic")
    assert "psychotropic_1" in oxycodone.notes  # a quoted cell with commas, read whole


def test_packaged_list_rows_of_every_shape(packaged: SpecialDrugList) -> None:
    by_name = {e.name_zh: e for e in packaged.entries}
    # A row without ATC or RxNorm code.
    assert by_name["布桂嗪"].atc_code is None and by_name["布桂嗪"].rxnorm_ingredient is None
    # A class row.
    assert by_name["含麻醉药品口服复方制剂"].category == "online_sale_prohibited"
    # A row naming two preparations, and one listing two RxNorm ingredients.
    assert by_name["复方樟脑酊；阿桔片"].names()[:2] == ("复方樟脑酊", "阿桔片")
    assert by_name["吗啡阿托品注射液"].rxnorm_ingredients() == ("morphine", "atropine")
    # Commas inside quoted cells stay in their cell.
    assert "," in by_name["可待因"].notes
    assert by_name["3,4-亚甲二氧基甲基苯丙胺（MDMA）"].category == "psychotropic_1"
    assert all(e.source for e in packaged.entries)


def test_packaged_files_are_the_shared_reference_verbatim() -> None:
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"the shared reference folder is not at {SHARED_REFERENCE}")
    for name in ("special_drugs.csv", "special_drugs.md"):
        assert read_resource("regulatory", name) == (SHARED_REFERENCE / name).read_bytes(), name


def test_read_resource_refuses_paths_that_leave_the_package() -> None:
    for parts in [(), ("..", "pyproject.toml"), ("regulatory/special_drugs.csv",), ("",)]:
        with pytest.raises(ValueError):
            read_resource(*parts)


# --- vocabulary ---------------------------------------------------------------------------------------------


def test_rule_for_category_follows_special_drugs_md() -> None:
    assert dict(RULE_FOR_CATEGORY) == {
        "narcotic": "special_drug.narcotic",
        "psychotropic_1": "special_drug.psychotropic",
        "psychotropic_2": "special_drug.psychotropic",
        "toxic": "special_drug.other_restricted",
        "radioactive": "special_drug.other_restricted",
        "precursor_chemical": "special_drug.other_restricted",
        "online_sale_prohibited": "special_drug.online_sale_prohibited",
    }
    assert set(CATEGORY_NAME_ZH) == set(SPECIAL_CATEGORIES) == set(RULE_FOR_CATEGORY)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("precursor", "precursor_chemical"), ("Narcotic", "narcotic"), ("麻醉药品", "narcotic"),
     ("第一类精神药品", "psychotropic_1"), ("第二类精神药品", "psychotropic_2"), ("医疗用毒性药品", "toxic"),
     ("放射性药品", "radioactive"), ("药品类易制毒化学品", "precursor_chemical"),
     ("narcotics", None), ("", None)],
)
def test_category_aliases(raw: str, expected: str | None) -> None:
    assert normalise_special_category(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("n02aa05", "N02AA05"), ("A12AX", "A12AX"), ("v", "V"),
     ("N2", None), ("Q02AA05", None), ("N02AAO5", None)],
)
def test_atc_shape(raw: str, expected: str | None) -> None:
    assert normalise_atc(raw) == expected


def test_by_category_accepts_aliases_and_refuses_unknown_categories(packaged: SpecialDrugList) -> None:
    assert packaged.by_category("precursor") == packaged.by_category("precursor_chemical")
    assert packaged.by_category("麻醉药品") == packaged.by_category("narcotic")
    with pytest.raises(ValueError):
        packaged.by_category("narcotics")


def test_entry_invariants() -> None:
    with pytest.raises(ValueError):
        # Aliases are for parsing only.
        SpecialDrugEntry("precursor", "麻黄碱", "ephedrine", None, None, "", "")
    with pytest.raises(ValueError):
        SpecialDrugEntry("narcotic", "", "", None, None, "", "")


# --- the minimal list and its refusals, each with its exact line --------------------------------------------


def test_minimal_list_parses() -> None:
    parsed = parse_special_drugs_csv(to_csv(MINIMAL), "minimal.csv")
    assert parsed.categories() == SPECIAL_CATEGORIES
    assert parsed.by_category("radioactive")[0].rxnorm_ingredient is None
    assert parsed.by_category("online_sale_prohibited")[0].atc_code is None


def test_notes_and_source_columns_are_optional() -> None:
    parsed = parse_special_drugs_csv(to_csv(MINIMAL, SPECIAL_DRUG_COLUMNS), "bare.csv")
    assert all(e.notes == "" and e.source == "" for e in parsed.entries)


def test_extra_columns_and_any_order_and_a_bom() -> None:
    columns = ("extra", *reversed(COLUMNS))
    parsed = parse_special_drugs_csv(b"\xef\xbb\xbf" + to_csv(MINIMAL, columns), "reordered.csv")
    assert [e.category for e in parsed.entries] == list(SPECIAL_CATEGORIES)


def test_category_aliases_are_normalised_when_parsing() -> None:
    rows = [dict(r) for r in MINIMAL]
    for r in rows[1::2]:
        r["category"] = CATEGORY_NAME_ZH[r["category"]]
    rows[5]["category"] = "precursor"
    parsed = parse_special_drugs_csv(to_csv(rows), "aliases.csv")
    assert [e.category for e in parsed.entries] == list(SPECIAL_CATEGORIES)


def test_unknown_category_is_refused_with_its_line() -> None:
    rows = [*MINIMAL, {**MINIMAL[0], "category": "narcotics", "name_zh": "吗啡"}]
    error = only_error(to_csv(rows))
    assert (error.line, error.column) == (9, "category")
    assert "'narcotics' is not a known category" in error.message_en


def test_empty_category_is_refused() -> None:
    rows = [*MINIMAL, {**MINIMAL[0], "category": ""}]
    error = only_error(to_csv(rows))
    assert (error.line, error.column) == (9, "category")


def test_a_row_without_any_name_is_refused() -> None:
    error = only_error(to_csv(with_changes(2, name_zh="", name_en=" ")))
    assert error.line == 4
    assert "both the Chinese and the English name are empty" in error.message_en


def test_a_row_with_one_name_is_enough() -> None:
    parsed = parse_special_drugs_csv(to_csv(with_changes(2, name_zh="")), "english-only.csv")
    assert parsed.by_category("psychotropic_2")[0].names() == ("diazepam",)


def test_bad_atc_is_refused_with_its_line() -> None:
    error = only_error(to_csv(with_changes(3, atc_code="A3BA01")))
    assert (error.line, error.column) == (5, "atc_code")
    assert error.message == (
        "第 5 行 atc_code: 'A3BA01' 不是有效的 ATC 代码（应如 N02AA05） / "
        "line 5 atc_code: 'A3BA01' is not a valid ATC code (expected like N02AA05)"
    )


def test_missing_columns_are_named() -> None:
    error = only_error(to_csv(MINIMAL, ("category", "name_zh", "notes")))
    assert error.line == 1
    assert error.message_en.endswith("lacks required column(s): name_en, atc_code, rxnorm_ingredient")


def test_not_utf8_is_refused() -> None:
    # A list saved by Chinese Excel as GB18030: refused, since this file decides what is blocked.
    error = only_error(to_csv(MINIMAL).decode("utf-8").encode("gb18030"))
    assert error.line == 2
    assert "not valid UTF-8" in error.message_en


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf  "])
def test_empty_file_is_refused(data: bytes) -> None:
    error = only_error(data)
    assert error.line is None and "empty" in error.message_en


def test_header_only_is_an_empty_list() -> None:
    error = only_error(to_csv([]))
    assert "holds no entries" in error.message_en


def test_a_list_without_narcotics_is_a_truncated_file() -> None:
    error = only_error(to_csv(MINIMAL[1:]))
    assert error.line is None and error.column == "category"
    assert "no entry at all in: narcotic;" in error.message_en
    assert "麻醉药品" in error.message_zh


def test_absent_categories_are_all_named() -> None:
    error = only_error(to_csv(MINIMAL[:2]))
    absent = "psychotropic_2, toxic, radioactive, precursor_chemical, online_sale_prohibited"
    assert absent in error.message_en


def test_a_category_whose_only_row_has_another_error_is_not_called_absent() -> None:
    error = only_error(to_csv(with_changes(0, atc_code="bad")))
    assert (error.line, error.column) == (2, "atc_code")


def test_all_errors_are_collected() -> None:
    rows = [*MINIMAL, {**MINIMAL[0], "category": "x"}, {**MINIMAL[1], "atc_code": "1"},
            {**MINIMAL[2], "name_zh": "", "name_en": ""}]
    errors = errors_of(to_csv(rows) + b"narcotic,too,few\n")
    expected = [(9, "category"), (10, "atc_code"), (11, "name_zh"), (12, None)]
    assert [(e.line, e.column) for e in errors] == expected
    with pytest.raises(SpecialDrugListError) as caught:
        parse_special_drugs_csv(to_csv(rows), "list-2026.csv")
    assert isinstance(caught.value, DomainError)
    assert caught.value.source == "list-2026.csv" and "list-2026.csv" in str(caught.value)


# --- property-based: the parser's contract ------------------------------------------------------------------


@given(st.binary(max_size=2_000))
@settings(max_examples=300)
def test_arbitrary_bytes_either_parse_or_raise_the_typed_error(data: bytes) -> None:
    try:
        parsed = parse_special_drugs_csv(data, "fuzz.csv")
    except SpecialDrugListError as exc:
        assert exc.errors and all(isinstance(e, CsvRowError) for e in exc.errors)
    else:
        assert parsed.categories() == SPECIAL_CATEGORIES


@given(st.text(max_size=1_000))
@settings(max_examples=300)
def test_arbitrary_rows_after_a_valid_list_either_parse_or_raise_the_typed_error(tail: str) -> None:
    try:
        parse_special_drugs_csv(to_csv(MINIMAL) + tail.encode("utf-8"), "fuzz.csv")
    except SpecialDrugListError as exc:
        assert exc.errors and all(e.line is None or e.line >= 9 for e in exc.errors)
