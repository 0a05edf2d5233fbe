"""Parsing what people type into a field's value: numbers the Vietnamese way, periods, dates,
phone numbers. Every parser returns a JSON value or raises `FormInputError`, nothing else.

- Numbers: "1.500" is 1500 (a dot groups thousands), "2,5" is 2.5 (a comma is the decimal
  mark), "1.500,5" is 1500.5, "12 hộ" is 12 (the unit's words are dropped), "-3" is -3.
- Periods: "tháng 11" / "thang 11" (this year, or last year's when that month is still to come),
  "11/2026", "T11/2026", "quý 3" / "quy 3/2026", "Q3 2026", "năm 2026" / "2026". Stored as
  "2026-11", "2026-Q3", "2026".
- Dates: "15/11/2026", "15/11" (this year), "2026-11-15", "hôm nay", "hôm qua". Stored ISO.
- Phones: Vietnamese numbers, "0905 123 456", "+84 905123456", "84905123456"; stored as
  "0905123456".
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from bot.flows.forms.errors import FormInputError
from bot.i18n import N_
from nlu.normalize import fold

MAX_INPUT = 200  # longer text is not a number, a period or a date
NUMBER_RE = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$|^[+-]?\d*[.,]\d+$|^[+-]?\d+$")
WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)


def folded(text: str) -> str:
    """Lower-case, no diacritics, single spaces: what typed answers are compared as."""
    return " ".join(fold(text).lower().split())


def _to_number(token: str) -> Decimal:
    sign = ""
    if token[:1] in "+-":
        sign, token = token[0], token[1:]
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", token):
        token = token.replace(".", "").replace(",", ".")  # 1.500 / 1.500,5
    elif "," in token and "." not in token:
        token = token.replace(",", ".")  # 2,5
    elif token.count(".") > 1 or token.count(",") > 0:
        raise InvalidOperation
    return Decimal(sign + token)


def parse_number(
    text: str,
    *,
    integer: bool = False,
    unit_words: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
) -> int | float:
    """The number typed, with the unit's words (and "khoảng", "là") dropped."""
    raw = " ".join((text or "").split())[:MAX_INPUT]
    words = folded(raw)
    for unit in sorted(unit_words, key=len, reverse=True):
        unit = folded(unit)
        if unit:
            words = re.sub(rf"(?<![a-z]){re.escape(unit)}(?![a-z])", " ", words)
    words = re.sub(r"(?<![a-z])(khoang|la|duoc|co|tong|so|gan|hon|chung)(?![a-z])", " ", words)
    tokens = words.split()
    if len(tokens) != 1 or not NUMBER_RE.match(tokens[0]):
        raise FormInputError(N_("Nhập một số, ví dụ {example}."), example="12")
    try:
        value = _to_number(tokens[0])
    except (InvalidOperation, ValueError):
        raise FormInputError(N_("Nhập một số, ví dụ {example}."), example="12") from None
    if not value.is_finite() or abs(value) > Decimal(10) ** 12:
        raise FormInputError(N_("Số này quá lớn. Nhập một số, ví dụ {example}."), example="12")
    if integer and value != value.to_integral_value():
        raise FormInputError(
            N_("Nhập một số nguyên, không có phần lẻ, ví dụ {example}."), example="12"
        )
    if minimum is not None and value < Decimal(str(minimum)):
        raise FormInputError(N_("Số phải từ {minimum} trở lên."), minimum=_show(minimum))
    if maximum is not None and value > Decimal(str(maximum)):
        raise FormInputError(N_("Số phải không quá {maximum}."), maximum=_show(maximum))
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _show(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n).replace(".", ",")


def show_number(n: int | float) -> str:
    """A number the Vietnamese way: 1.500 and 2,5."""
    if isinstance(n, float) and not n.is_integer():
        whole, _, frac = f"{n:.6f}".rstrip("0").partition(".")
        return f"{int(whole):,}".replace(",", ".") + "," + frac
    return f"{int(n):,}".replace(",", ".")


PERIOD_KINDS = ("month", "quarter", "year")
MIN_YEAR, MAX_YEAR = 2000, 2100


def _year(text: str) -> int:
    y = int(text)
    if not MIN_YEAR <= y <= MAX_YEAR:
        raise FormInputError(
            N_("Năm {year} không hợp lệ; nhập năm như {example}."), year=y, example="2026"
        )
    return y


def parse_period(
    text: str, kinds: tuple[str, ...] = PERIOD_KINDS, today: date | None = None
) -> str:
    """ "2026-11", "2026-Q3" or "2026", among the period kinds the field allows."""
    today = today or date.today()
    t = folded((text or "")[:MAX_INPUT])
    t = re.sub(r"[.,;]+$", "", t).strip()
    t = re.sub(r"\bnam\s+nay\b", str(today.year), t)
    t = re.sub(
        r"\b(thang|quy)\s+nay\b",
        lambda m: (
            f"{m.group(1)} {today.month if m.group(1) == 'thang' else (today.month - 1) // 3 + 1}"
        ),
        t,
    )
    if t in ("thang truoc",):
        prev = today.replace(day=1) - timedelta(days=1)
        t = f"{prev.month}/{prev.year}"
    m = re.fullmatch(r"(?:thang|t)\s*(\d{1,2})(?:\s*(?:/|-|nam|\s)\s*(\d{4}))?", t) or re.fullmatch(
        r"(\d{1,2})\s*[/-]\s*(\d{4})", t
    )
    if m:
        month, year = int(m.group(1)), m.group(2)
        if not 1 <= month <= 12:
            raise FormInputError(N_("Tháng phải từ 1 đến 12, ví dụ {example}."), example="tháng 11")
        if year is None:
            y = today.year if month <= today.month else today.year - 1
        else:
            y = _year(year)
        return _allowed(f"{y}-{month:02d}", "month", kinds)
    m = re.fullmatch(r"(?:quy|q)\s*(\d{1,2}|i{1,3}|iv)(?:\s*(?:/|-|nam|\s)\s*(\d{4}))?", t)
    if m:
        q = {"i": 1, "ii": 2, "iii": 3, "iv": 4}.get(m.group(1)) or int(m.group(1))
        if not 1 <= q <= 4:
            raise FormInputError(N_("Quý phải từ 1 đến 4, ví dụ {example}."), example="quý 3")
        if m.group(2) is None:
            current = (today.month - 1) // 3 + 1
            y = today.year if q <= current else today.year - 1
        else:
            y = _year(m.group(2))
        return _allowed(f"{y}-Q{q}", "quarter", kinds)
    m = re.fullmatch(r"(?:nam\s*)?(\d{4})", t)
    if m:
        return _allowed(str(_year(m.group(1))), "year", kinds)
    raise FormInputError(_period_hint(kinds), **_period_examples(kinds))


def _period_hint(kinds: tuple[str, ...]) -> str:
    return N_("Nhập kỳ báo cáo, ví dụ {examples}.")


def _period_examples(kinds: tuple[str, ...]) -> dict[str, str]:
    ex = {"month": "tháng 11", "quarter": "quý 3", "year": "2026"}
    return {"examples": ", ".join(ex[k] for k in kinds if k in ex)}


def _allowed(value: str, kind: str, kinds: tuple[str, ...]) -> str:
    if kind not in kinds:
        raise FormInputError(_period_hint(kinds), **_period_examples(kinds))
    return value


def show_period(value: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return f"tháng {int(value[5:])}/{value[:4]}"
    if re.fullmatch(r"\d{4}-Q\d", value):
        return f"quý {value[6]}/{value[:4]}"
    return f"năm {value}"


def parse_date(text: str, today: date | None = None) -> str:
    today = today or date.today()
    t = folded((text or "")[:MAX_INPUT]).strip(" .")
    if t in ("hom nay", "nay"):
        return today.isoformat()
    if t == "hom qua":
        return (today - timedelta(days=1)).isoformat()
    m = re.fullmatch(r"(?:ngay\s*)?(\d{1,2})\s*[/.-]\s*(\d{1,2})(?:\s*[/.-]\s*(\d{4}))?", t)
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", t)
    try:
        if m:
            year = int(m.group(3)) if m.group(3) else today.year
            d = date(year, int(m.group(2)), int(m.group(1)))
        elif iso:
            d = date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        else:
            raise ValueError
    except ValueError:
        raise FormInputError(
            N_("Nhập ngày theo dạng ngày/tháng/năm, ví dụ {example}."), example="15/11/2026"
        ) from None
    if not MIN_YEAR <= d.year <= MAX_YEAR:
        raise FormInputError(
            N_("Nhập ngày theo dạng ngày/tháng/năm, ví dụ {example}."), example="15/11/2026"
        )
    return d.isoformat()


def show_date(value: str) -> str:
    try:
        d = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


# Mobile prefixes after the 2018 renumbering: 03x, 05x, 07x, 08x, 09x; landlines 02xx.
PHONE_RE = re.compile(r"^0(?:[35789]\d{8}|2\d{9})$")


def parse_phone(text: str) -> str:
    digits = re.sub(r"[\s.\-()]", "", (text or "")[:MAX_INPUT])
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    if not PHONE_RE.match(digits):
        raise FormInputError(
            N_("Số điện thoại chưa đúng. Nhập số Việt Nam 10 chữ số, ví dụ {example}."),
            example="0905 123 456",
        )
    return digits
