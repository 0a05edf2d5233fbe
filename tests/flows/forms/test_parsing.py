"""Number, period, date and phone parsing, and the expression evaluator: examples, then
property tests (any text in: a value or the engine's own FormInputError, nothing else)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.flows.forms.errors import ExprError, FormInputError
from bot.flows.forms.expr import compile_expr
from bot.flows.forms.parse import (
    parse_date,
    parse_number,
    parse_period,
    parse_phone,
    show_number,
)

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("12", 12),
        ("1.500", 1500),
        ("1.500.000", 1500000),
        ("2,5", 2.5),
        ("1.500,5", 1500.5),
        ("12 hộ", 12),
        ("12 ho", 12),
        ("khoảng 30 hộ", 30),
        ("-3", -3),
        (" 7 ", 7),
        ("0,25", 0.25),
        ("2.5", 2.5),
    ],
)
def test_numbers_the_vietnamese_way(typed, value):
    assert parse_number(typed, unit_words=("hộ",)) == value


@pytest.mark.parametrize("typed", ["", "mười hai", "12 13", "1,2,3", "1..2", "12 con gà", "abc"])
def test_not_numbers(typed):
    with pytest.raises(FormInputError) as e:
        parse_number(typed, unit_words=("hộ",))
    assert e.value.message.startswith("Nhập một số")


def test_show_number():
    assert show_number(1500) == "1.500" and show_number(2.5) == "2,5"


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("tháng 11", "2026-11"),
        ("thang 11", "2026-11"),
        ("Tháng 12", "2026-12"),
        ("11/2026", "2026-11"),
        ("T11/2026", "2026-11"),
        ("tháng 3 năm 2025", "2025-03"),
        ("quý 3", "2026-Q3"),
        ("quy 3/2026", "2026-Q3"),
        ("Q4 2025", "2025-Q4"),
        ("quý IV", "2026-Q4"),
        ("2026", "2026"),
        ("năm 2025", "2025"),
        ("năm nay", "2026"),
        ("tháng trước", "2026-11"),
    ],
)
def test_periods(typed, value):
    assert parse_period(typed, today=TODAY) == value


def test_a_month_still_to_come_is_last_years():
    assert parse_period("tháng 12", today=date(2026, 3, 5)) == "2025-12"


def test_period_kinds_the_field_allows():
    with pytest.raises(FormInputError):
        parse_period("2026", ("month", "quarter"), today=TODAY)


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("15/11/2026", "2026-11-15"),
        ("15/11", "2026-11-15"),
        ("2026-11-15", "2026-11-15"),
        ("hôm nay", "2026-12-01"),
        ("hom qua", "2026-11-30"),
        ("ngày 1-2-2026", "2026-02-01"),
    ],
)
def test_dates(typed, value):
    assert parse_date(typed, today=TODAY) == value


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("0905 123 456", "0905123456"),
        ("+84 905 123 456", "0905123456"),
        ("84905123456", "0905123456"),
        ("0358.123.456", "0358123456"),
        ("0236 3822 123", "02363822123"),
    ],
)
def test_phones(typed, value):
    assert parse_phone(typed) == value


@pytest.mark.parametrize("typed", ["12345", "0123456789", "09051234567", "abc", "+1 202 555 0100"])
def test_not_phones(typed):
    with pytest.raises(FormInputError):
        parse_phone(typed)


@pytest.mark.parametrize(
    ("expr", "answers", "current", "result"),
    [
        ("${a} = 1", {"a": 1}, None, True),
        ("${a} = '1'", {"a": 1}, None, True),
        ("${a} = 'yes'", {"a": True}, None, True),
        ("${a} != 'yes'", {"a": False}, None, True),
        ("${a} = ''", {}, None, True),
        ("${a} > 3", {}, None, False),  # not answered: no order
        (". >= 0 and . <= 10", {}, 5, True),
        (". >= 0 and . <= 10", {}, 11, False),
        ("not(. = 3)", {}, 3, False),
        ("not . = 3", {}, 4, True),
        ("1 + 2 * 3 = 7", {}, None, True),
        ("(1 + 2) * 3 = 9", {}, None, True),
        ("10 div 4 = 2.5 and 10 mod 4 = 2", {}, None, True),
        ("-${a} < 0", {"a": 2}, None, True),
        ("selected(${k}, 'b')", {"k": ["a", "b"]}, None, True),
        ("count-selected(${k}) >= 2", {"k": ["a"]}, None, False),
        ("string-length(.) >= 5", {}, "abcd", False),
        ("regex(., '0[0-9]{9}')", {}, "0905123456", True),
        ("${p} >= '2026-01'", {"p": "2026-11"}, None, True),
        ("true() or false()", {}, None, True),
        ("${a} = 1 or ${b} = 2 and ${c} = 3", {"a": 0, "b": 2, "c": 3}, None, True),
    ],
)
def test_expressions(expr, answers, current, result):
    assert compile_expr(expr).test(answers, current) is result


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "${a} =",
        "__import__('os')",
        "${a}.b",
        "a.b()",
        "1 +",
        "(1",
        "${a} == 1",
        "x = 1",
        "lambda: 1",
        "'" * 3,
        "selected(1)",
        "(" * 60 + "1" + ")" * 60,
        "1 " * 400,
    ],
)
def test_expressions_refused(bad):
    with pytest.raises(ExprError):
        compile_expr(bad)


def test_division_by_zero_is_the_engines_error():
    with pytest.raises(ExprError):
        compile_expr("1 div . = 1").test({}, 0)


ALPHABET = "0123456789.,-+/ hộhaườiệuthángquýnmTQIVX\u00a0\u200b\U0001f600"
TOKENS = [
    "12",
    "1.500",
    "2,5",
    "-3",
    "1.500,5",
    "0",
    "99999999999999",
    "hộ",
    "ha",
    "người",
    "tháng",
    "thang",
    "quý",
    "quy",
    "Q",
    "T",
    "năm",
    "nay",
    "trước",
    "hôm",
    "qua",
    "/",
    "-",
    "2026",
    "1999",
    "13",
    "IV",
    "ngày",
    "+84",
    "0905",
    "123",
    "456",
    "",
]
any_text = st.text(alphabet=ALPHABET, max_size=40) | st.lists(
    st.sampled_from(TOKENS), max_size=6
).map(" ".join)


@given(any_text, st.booleans())
def test_number_parser_never_raises_anything_else(text, integer):
    try:
        value = parse_number(text, integer=integer, unit_words=("hộ", "ha"), minimum=0, maximum=1e6)
    except FormInputError:
        return
    assert isinstance(value, int | float) and 0 <= value <= 1e6


@given(any_text)
def test_period_and_date_parsers_never_raise_anything_else(text):
    for parse in (
        lambda t: parse_period(t, today=TODAY),
        lambda t: parse_date(t, today=TODAY),
        parse_phone,
    ):
        try:
            assert isinstance(parse(text), str)
        except FormInputError:
            pass


ATOMS = st.sampled_from(["${a}", "${b}", ".", "1", "0", "2.5", "'x'", "''", "true()", "-1"])
OPS = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod", "and", "or"])
expr_text = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, OPS, inner).map(" ".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"not({e})"),
        st.tuples(inner, inner).map(lambda p: f"selected({p[0]}, {p[1]})"),
    ),
    max_leaves=12,
) | st.text(alphabet="${}ab.()'=<>!+-*, 0123456789ordivmnt", max_size=40)
VALUES = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.sampled_from(["x", "1", ""]), max_size=3),
)


@given(expr_text, VALUES, VALUES, VALUES)
def test_evaluator_never_raises_anything_else(text, a, b, current):
    try:
        expr = compile_expr(text)
        expr.test({"a": a, "b": b}, current)
    except ExprError:
        pass
