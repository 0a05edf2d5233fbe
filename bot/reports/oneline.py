"""A quick report typed in one line: `bc du an 1 nha o thon 2 12 ho thang 11`.

What the line says is read into the quick report's answers (content/forms/quick_report.yml);
what it does not say is left out, and the form asks for it. The line is split into words and
numbers ("da1" is "da" and "1", "1.500" one number); each part is found in any order:

- the project: "du an 1", "dự án 3", "da1", "da 4", "dan 2" (1-10, content/projects.yml);
- the period: "thang 11", "t11", "tháng 11/2026", "quy 3", "q3", "quý III", "nam 2026", "thang
  nay" (bot/flows/forms/parse.py reads it, in the province's time zone);
- the place: "thon 2", "xa ba dong", "lang teng" after a place word (thôn, làng, xã, bản, tổ,
  xóm, khu, phường), searched in the area tree (bot/areas.py) by name or former name, the
  officer's own area first; a place not in the tree is not guessed: the form asks;
- the value: a number with a unit ("12 hộ", "1.500 m", "2,5 ha") or the one number left; a
  unit that is not the indicator's leaves the value to ask (nothing is converted);
- the indicator: the words left ("nha o", "nuoc", "rung"), matched against the indicator names
  and codes of content/indicators.yml (of the project, when one was given; otherwise the one
  indicator matched gives the project too). A typed word with diacritics must match them
  ("đạt" is not "đất"); one without matches either.

Nothing here is hard-coded content: projects, indicators and units come from content/.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot.flows.forms.errors import FormInputError
from bot.flows.forms.parse import parse_number, parse_period
from nlu.normalize import fold

TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|/", re.UNICODE)
PREFIXES = (("bc",), ("bao", "cao"), ("/", "baocao"))
PLACE_WORDS = {"thon", "lang", "xa", "phuong", "ban", "to", "xom", "khu", "buon", "plei"}
PROJECT_WORDS = (("du", "an"), ("da",), ("duan",), ("dan",))
MONTH_WORDS = {"thang", "t"}
QUARTER_WORDS = {"quy", "q"}
ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
# Units a value may be typed with besides the indicators' own (never converted: a unit that is
# not the indicator's leaves the value to be asked).
OTHER_UNITS = (("m",), ("km",), ("m2",), ("kg",), ("tan",), ("cai",), ("chiec",), ("con",))
# Words that tell no indicator from another.
STOP = {
    "ho",
    "tro",
    "duoc",
    "va",
    "hoac",
    "cua",
    "cho",
    "cac",
    "so",
    "luong",
    "la",
    "co",
    "o",
    "voi",
    "nhung",
    "trong",
    "bao",
    "cao",
    "bc",
}
MAX_WORDS = 40


@dataclass
class Token:
    raw: str  # lower case, with its diacritics
    folded: str
    used: bool = False

    @property
    def number(self) -> bool:
        return self.raw[:1].isdigit()


@dataclass
class Parsed:
    """What a line said. `answers` are the form's; the rest explains them."""

    answers: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None  # the unit typed with the value
    unit_mismatch: str | None = None  # typed unit, when it is not the indicator's
    place: str | None = None  # the place typed, as typed
    place_found: bool = False
    period_error: FormInputError | None = None
    bad_project: int | None = None  # "du an 11": not a project; none is guessed

    @property
    def empty(self) -> bool:
        return not self.answers


def _has_marks(word: str) -> bool:
    return fold(word) != word or any(unicodedata.combining(c) for c in word)


def _same_word(typed: Token, name_raw: str, name_folded: str) -> bool:
    if typed.folded != name_folded:
        return False
    return not _has_marks(typed.raw) or typed.raw == name_raw


def tokens(text: str) -> list[Token]:
    text = unicodedata.normalize("NFC", (text or "")[:400]).lower()
    out = []
    for m in TOKEN_RE.finditer(text):
        raw = m.group(0)
        out.append(Token(raw, fold(raw).lower()))
    return out[: MAX_WORDS * 2]


def _words_of(name: str) -> list[tuple[str, str]]:
    return [(t.raw, t.folded) for t in tokens(name) if not t.number]


def _seq(ts: list[Token], i: int, words: tuple[str, ...]) -> bool:
    return all(
        i + k < len(ts) and not ts[i + k].used and ts[i + k].folded == w
        for k, w in enumerate(words)
    )


def is_one_line(text: str) -> bool:
    """Does the line start as a one-line report ("bc ...", "báo cáo ...", "/baocao ...") and hold
    a number after that (a report always does)?"""
    ts = tokens(text)
    for p in PREFIXES:
        if tuple(t.folded for t in ts[: len(p)]) == p:
            return any(t.number for t in ts[len(p) :])
    return False


def parse_line(
    text: str,
    *,
    projects: list[Any],
    indicators: list[Any],
    tree: Any,
    officer_area: str | None,
    today: date,
) -> Parsed:
    """Read one line (its "bc" prefix already dropped, or not) into quick report answers.

    `projects` and `indicators` are the form's options (bot/flows/forms/schema.py: value, label,
    extra project / unit); `tree` an AreaTree."""
    out = Parsed()
    ts = tokens(text)
    for p in PREFIXES:
        if tuple(t.folded for t in ts[: len(p)]) == p:
            for t in ts[: len(p)]:
                t.used = True
            break
    numbers = {int(o.value) for o in projects if str(o.value).isdigit()}
    _project(ts, out, numbers)
    _period(ts, out, today)
    _place(ts, out, tree, officer_area)
    value = _value(ts, indicators)
    _indicator(ts, out, indicators, value)
    if value is not None:
        number, unit = value
        out.unit = unit
        ind = _find(indicators, out.answers.get("indicator"))
        ind_unit = fold(_unit(ind)).lower() if ind is not None else None
        if unit is not None and ind_unit is not None and fold(unit).lower() != ind_unit:
            out.unit_mismatch = unit
        else:
            out.answers["value"] = number
    if "area" not in out.answers and out.place is None and officer_area:
        out.answers["area"] = officer_area  # the form's default: the officer's area
    return out


def _find(options: list[Any], value: Any) -> Any:
    for o in options:
        if value is not None and str(o.value) == str(value):
            return o
    return None


def _unit(option: Any) -> str:
    unit = (option.extra or {}).get("unit") or {}
    return unit.get("vi", "") if isinstance(unit, dict) else str(unit)


def _project(ts: list[Token], out: Parsed, numbers: set[int]) -> None:
    for i in range(len(ts)):
        for words in PROJECT_WORDS:
            j = i + len(words)
            if words != ("du", "an") and _has_marks(ts[i].raw):
                continue  # "đã 5" is not "da5"
            if _seq(ts, i, words) and j < len(ts) and ts[j].raw.isdigit():
                n = int(ts[j].raw)
                for t in ts[i : j + 1]:
                    t.used = True
                if n in numbers:
                    out.answers["project"] = n
                else:
                    out.bad_project = n
                return


def _year_after(ts: list[Token], j: int) -> tuple[str | None, int]:
    """A year after a month or quarter ("/2026", "nam 2026", "2026"): (year, tokens taken)."""
    year = ts[j + 1].raw if j + 1 < len(ts) else ""
    if j < len(ts) and ts[j].raw == "/" and re.fullmatch(r"\d{4}", year):
        return year, 2
    if j < len(ts) and ts[j].folded == "nam" and j + 1 < len(ts):
        if re.fullmatch(r"\d{4}", ts[j + 1].raw):
            return ts[j + 1].raw, 2
    if j < len(ts) and re.fullmatch(r"\d{4}", ts[j].raw):
        return ts[j].raw, 1
    return None, 0


def _period(ts: list[Token], out: Parsed, today: date) -> None:
    for i, t in enumerate(ts):
        if t.used:
            continue
        nxt = ts[i + 1] if i + 1 < len(ts) else None
        typed: str | None = None
        taken = 0
        if t.folded in MONTH_WORDS | QUARTER_WORDS and nxt is not None and not nxt.used:
            word = "thang" if t.folded in MONTH_WORDS else "quy"
            if nxt.folded in ("nay", "truoc") and word == "thang" or nxt.folded == "nay":
                typed, taken = f"{word} {nxt.folded}", 2
            elif nxt.raw.isdigit() or (word == "quy" and nxt.folded in ROMAN):
                year, more = _year_after(ts, i + 2)
                typed = f"{word} {nxt.folded}" + (f"/{year}" if year else "")
                taken = 2 + more
        elif t.folded == "nam" and nxt is not None and re.fullmatch(r"\d{4}", nxt.raw):
            typed, taken = nxt.raw, 2
        elif t.folded == "nam" and nxt is not None and nxt.folded == "nay":
            typed, taken = "nam nay", 2
        if typed is None:
            continue
        try:
            out.answers["period"] = parse_period(typed, today=today)
        except FormInputError as exc:
            out.period_error = exc
        for k in ts[i : i + taken]:
            k.used = True
        return


def _place(ts: list[Token], out: Parsed, tree: Any, officer_area: str | None) -> None:
    for i, t in enumerate(ts):
        if t.used or t.folded not in PLACE_WORDS or i + 1 >= len(ts) or ts[i + 1].used:
            continue
        if t.folded == "to" and not ts[i + 1].raw.isdigit():
            continue  # "tổ 3" is a place; "to" alone is often another word
        for n in (3, 2, 1):
            part = ts[i : i + 1 + n]
            if len(part) < n + 1 or any(p.used for p in part):
                continue
            query = " ".join(p.raw for p in part)
            found = tree.search(query, ("commune", "village")) if tree is not None else []
            if officer_area:
                mine = [
                    m
                    for m in found
                    if tree.within(m.area.code, officer_area)
                    or tree.within(officer_area, m.area.code)
                ]
                found = mine or found
            exact = [m for m in found if m.exact]
            if exact or (found and n == 1):
                chosen = (exact or found)[0]
                out.answers["area"] = chosen.area.code
                out.place, out.place_found = query, True
                for p in part:
                    p.used = True
                return
        # a place word and a name that is not in the tree: taken, not guessed
        part = [t] + [
            p for p in ts[i + 1 : i + 3] if not p.used and (p.number or p.folded not in STOP)
        ][:1]
        out.place = " ".join(p.raw for p in part)
        for p in part:
            p.used = True
        return


def _units(indicators: list[Any]) -> list[tuple[str, ...]]:
    units = {tuple(fold(_unit(o)).lower().split()) for o in indicators if _unit(o)}
    units |= set(OTHER_UNITS)
    return sorted((u for u in units if u), key=len, reverse=True)


def _value(ts: list[Token], indicators: list[Any]) -> tuple[int | float, str | None] | None:
    units = _units(indicators)
    with_unit: list[tuple[int, int | float, str]] = []
    bare: list[tuple[int, int | float]] = []
    for i, t in enumerate(ts):
        if t.used or not t.number:
            continue
        try:
            number = parse_number(t.raw, minimum=0)
        except FormInputError:
            continue
        for u in units:
            if _seq(ts, i + 1, u):
                typed = " ".join(ts[i + 1 + k].raw for k in range(len(u)))
                with_unit.append((i, number, typed))
                for k in range(len(u) + 1):
                    ts[i + k].used = True
                break
        else:
            bare.append((i, number))
    if len(with_unit) == 1:
        _, number, unit = with_unit[0]
        return number, unit
    if not with_unit and len(bare) == 1:
        i, number = bare[0]
        ts[i].used = True
        return number, None
    return None


def _indicator(
    ts: list[Token],
    out: Parsed,
    indicators: list[Any],
    value: tuple[int | float, str | None] | None,
) -> None:
    if out.bad_project is not None:
        return
    left = [t for t in ts if not t.used and not t.number and t.folded not in STOP]
    project = out.answers.get("project")
    pool = [o for o in indicators if project is None or o.extra.get("project") == project]
    typed_unit = fold(value[1]).lower() if value is not None and value[1] else None
    if not left:
        # no words: the project's one indicator counted in the unit typed ("da10 8 buoi")
        same = [o for o in pool if typed_unit and fold(_unit(o)).lower() == typed_unit]
        if project is not None and len(same) == 1:
            out.answers["indicator"] = same[0].value
        return
    scored = []
    for o in pool:
        name = _words_of(o.label.get("vi", ""))
        code = [(w, w) for w in str(o.value).split("_")[1:]]
        words = name + code
        score = sum(1 for t in left if any(_same_word(t, r, f) for r, f in words))
        if score:
            tie = 1 if typed_unit is not None and fold(_unit(o)).lower() == typed_unit else 0
            scored.append((score, tie, o))
    if not scored:
        return
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    best = scored[0]
    if len(scored) > 1 and scored[1][:2] == best[:2]:
        return  # two indicators fit as well: ask
    o = best[2]
    out.answers["indicator"] = o.value
    if project is None and o.extra.get("project") is not None:
        out.answers["project"] = o.extra["project"]
