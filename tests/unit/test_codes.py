from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpc_dataset.codes import LEVELS, CpcCode, code_level, is_valid_code, normalise_code, parse_code
from cpc_dataset.errors import InvalidCodeError

codes = st.builds(
    CpcCode,
    section=st.sampled_from("ABCDEFGHY"),
    class_=st.integers(0, 99).map(lambda n: f"{n:02d}"),
    subclass_letter=st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    group=st.integers(1, 9999),
    subgroup_digits=st.one_of(
        st.just("00"),
        st.from_regex(r"\A[1-9]0\Z"),
        st.from_regex(r"\A[0-9]{1}[1-9]\Z"),
        st.from_regex(r"\A[0-9]{2,5}[1-9]\Z"),
    ),
)


@pytest.mark.parametrize(
    "text", ["G06N3/08", "G06N 3/08", "G06N  3/08", "G06N0003080000", "g06n3/08", " G06N 3 / 08 ", "G06N3/0800"]
)
def test_forms_people_paste_normalise_to_one_symbol(text):
    assert normalise_code(text) == "G06N3/08"


def test_levels_of_a_subgroup():
    code = parse_code("G06N3/084")
    assert [code.level(name) for name in LEVELS] == ["G", "G06", "G06N", "G06N3/00", "G06N3/084"]
    assert not code.is_main_group and parse_code("G06N3/00").is_main_group


def test_code_level_accepts_a_subclass_for_upper_levels():
    assert code_level("G06N", "class") == "G06"
    assert code_level("Y02D10/00", "section") == "Y"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "G06N",
        "G06N3",
        "X06N3/08",
        "G6N3/08",
        "G06N3/8",
        "G06N0/08",
        "G06N12345/08",
        "G06N3/0812345",
        "['G06N3/08']",
        "G06N3/08; DROP",
    ],
)
def test_invalid_symbols_raise_an_error_that_names_them(bad):
    with pytest.raises(InvalidCodeError) as err:
        parse_code(bad)
    assert repr(bad) in str(err.value)
    assert not is_valid_code(bad)


def test_non_string_is_rejected():
    with pytest.raises(InvalidCodeError):
        parse_code(None)  # type: ignore[arg-type]


@given(codes)
def test_symbol_round_trip(code):
    assert parse_code(code.symbol) == code


@given(codes)
def test_fixed_width_round_trip(code):
    assert len(code.fixed_width) == 14
    assert parse_code(code.fixed_width) == code


@given(codes, st.sampled_from([" ", "  ", "\t"]))
def test_spaced_form_round_trip(code, space):
    spaced = f"{code.subclass}{space}{code.group}/{code.subgroup_digits}"
    assert parse_code(spaced.lower()) == code


@given(codes)
def test_levels_are_prefix_consistent(code):
    assert code.symbol.startswith(code.subclass) and code.subclass.startswith(code.class_symbol)
    assert code.class_symbol.startswith(code.section)
    assert parse_code(code.main_group).level("main_group") == code.main_group
