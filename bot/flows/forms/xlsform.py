"""XLSForm (the ODK / KoboToolbox Excel standard) to a form file, for the subset the engine runs.

`pyxform` reads the workbook (its `survey`, `choices` and `settings` sheets); each survey row
becomes a field. Supported:

- types: text, integer, decimal, select_one LIST, select_multiple LIST, date, image, audio,
  geopoint (-> text, number integer|decimal, choice, multi_choice, date, photo, audio, location);
- survey columns: type, name, label, hint, required, relevant, constraint, constraint_message,
  each text column also per language (`label::Tiếng Việt (vi)`, `label::vi`, `label::English
  (en)`; a column with no language is Vietnamese);
- choices columns: list_name, name, label (per language); settings: form_id, form_title.

Anything else (groups, repeats, notes, calculations, metadata such as start/end, other columns
or languages, expressions the engine's evaluator cannot read, choice values that do not fit a
button) is reported by sheet, row and column, and is never dropped silently: `convert` returns
the form and the list of what it refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.flows.forms.errors import ExprError
from bot.flows.forms.expr import compile_expr
from bot.flows.forms.schema import NAME_RE, TEXT_LANGS, VALUE_RE

TYPES = {
    "text": ("text", {}),
    "integer": ("number", {"number": "integer"}),
    "decimal": ("number", {"number": "decimal"}),
    "date": ("date", {}),
    "image": ("photo", {}),
    "audio": ("audio", {}),
    "geopoint": ("location", {}),
}
SELECTS = {"select_one": "choice", "select_multiple": "multi_choice"}
TEXT_COLUMNS = ("label", "hint", "constraint_message")
SURVEY_COLUMNS = {"type", "name", "required", "relevant", "constraint", *TEXT_COLUMNS}
CHOICE_COLUMNS = {"list_name", "name", "label"}
SETTINGS_COLUMNS = {"form_id", "form_title", "version", "default_language"}
LANG_RE = re.compile(r"^(?P<base>[a-z_]+)(?:::(?P<lang>.+))?$")
LANG_CODE_RE = re.compile(r"\(([A-Za-z-]+)\)\s*$")


@dataclass
class Refusal:
    sheet: str
    row: int | None  # the spreadsheet's row number (1 is the header)
    column: str | None  # "C (constraint)"
    message: str

    def __str__(self) -> str:
        where = [self.sheet]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


@dataclass
class Converted:
    form: dict[str, Any] | None
    refused: list[Refusal] = field(default_factory=list)


def _letter(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _headers(path: Path) -> dict[str, dict[str, str]]:
    """{sheet (lower-case): {header: "C (header)"}} from the workbook's first rows."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        out: dict[str, dict[str, str]] = {}
        for ws in wb.worksheets:
            first = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
            out[ws.title.lower()] = {
                " ".join(str(v).split()): f"{_letter(i)} ({' '.join(str(v).split())})"
                for i, v in enumerate(first)
                if v is not None and str(v).strip()
            }
        return out
    finally:
        wb.close()


def _lang(column: str) -> tuple[str, str | None] | None:
    """("label", "vi") for "label::Tiếng Việt (vi)"; None when not a known language."""
    m = LANG_RE.match(column.split("::")[0])
    if m is None:
        return None
    base = m.group("base")
    if "::" not in column:
        return base, "vi"
    lang = column.split("::", 1)[1].strip()
    code = LANG_CODE_RE.search(lang)
    lang = (code.group(1) if code else lang).lower()
    return (base, lang) if lang in TEXT_LANGS else (base, None)


def convert(path: str | Path, submit: str | None = None) -> Converted:
    """Read an XLSForm workbook into a form file's data, and what could not be expressed."""
    from pyxform.errors import PyXFormError
    from pyxform.xls2json_backends import xlsx_to_dict

    path = Path(path)
    refused: list[Refusal] = []
    try:
        book = xlsx_to_dict(str(path))
        headers = _headers(path)
    except (PyXFormError, OSError, ValueError, KeyError) as exc:
        return Converted(None, [Refusal(path.name, None, None, f"cannot read the workbook: {exc}")])
    survey = book.get("survey") or []
    if not survey:
        return Converted(None, [Refusal(path.name, None, None, "no `survey` sheet with rows")])

    def col(sheet: str, name: str) -> str:
        return headers.get(sheet, {}).get(name, name)

    # Columns the engine has no use for, once per column.
    for sheet, allowed in (("survey", SURVEY_COLUMNS), ("choices", CHOICE_COLUMNS)):
        for header in headers.get(sheet, {}):
            got = _lang(header)
            if got is None or got[0] not in allowed:
                refused.append(Refusal(sheet, 1, col(sheet, header), "column not supported"))
            elif got[1] is None:
                refused.append(
                    Refusal(
                        sheet,
                        1,
                        col(sheet, header),
                        f"language not supported; use one of {', '.join(TEXT_LANGS)}",
                    )
                )
            elif got[0] not in TEXT_COLUMNS and got[0] != "label" and "::" in header:
                refused.append(Refusal(sheet, 1, col(sheet, header), "column not supported"))
    for header in headers.get("settings", {}):
        if header not in SETTINGS_COLUMNS:
            refused.append(Refusal("settings", 1, col("settings", header), "column not supported"))

    def texts(row: dict[str, Any], base: str) -> dict[str, str]:
        out = {}
        for key, value in row.items():
            got = _lang(key)
            if got is not None and got[0] == base and got[1] is not None and value:
                out[got[1]] = str(value)
        return out

    # Choices by list.
    lists: dict[str, list[dict[str, Any]]] = {}
    for i, row in enumerate(book.get("choices") or []):
        n = i + 2
        if not row:
            continue
        list_name, value = row.get("list_name"), row.get("name")
        if not list_name or value is None:
            refused.append(Refusal("choices", n, None, "a choice needs list_name and name"))
            continue
        value = str(value)
        if not VALUE_RE.match(value):
            refused.append(
                Refusal(
                    "choices",
                    n,
                    col("choices", "name"),
                    f"choice name {value!r}: use letters, digits, _ . - (at most 40)",
                )
            )
            continue
        label = texts(row, "label")
        if "vi" not in label:
            refused.append(Refusal("choices", n, col("choices", "label"), "no Vietnamese label"))
            continue
        stored: Any = int(value) if value.isdigit() and len(value) < 10 else value
        lists.setdefault(str(list_name), []).append({"value": stored, "label": label})

    fields: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, row in enumerate(survey):
        n = i + 2
        if not row:
            continue
        raw_type = " ".join(str(row.get("type", "")).split())
        name = str(row.get("name", ""))
        kind, _, list_name = raw_type.partition(" ")
        if kind in SELECTS:
            if list_name.endswith(" or_other"):
                refused.append(
                    Refusal("survey", n, col("survey", "type"), "or_other not supported")
                )
                continue
            if list_name not in lists:
                refused.append(
                    Refusal(
                        "survey",
                        n,
                        col("survey", "type"),
                        f"no choices for list {list_name!r} on the choices sheet",
                    )
                )
                continue
            out: dict[str, Any] = {"name": name, "type": SELECTS[kind], "choices": lists[list_name]}
        elif raw_type in TYPES:
            ftype, extra = TYPES[raw_type]
            out = {"name": name, "type": ftype, **extra}
        else:
            refused.append(
                Refusal("survey", n, col("survey", "type"), f"type {raw_type!r} not supported")
            )
            continue
        if not NAME_RE.match(name) or name in ("summary", "edit", "done"):
            refused.append(
                Refusal(
                    "survey",
                    n,
                    col("survey", "name"),
                    f"name {name!r}: use lowercase letters, digits and _ (at most 32)",
                )
            )
            continue
        label = texts(row, "label")
        if "vi" not in label:
            refused.append(Refusal("survey", n, col("survey", "label"), "no Vietnamese label"))
            continue
        out["label"] = label
        out["prompt"] = label
        hint = texts(row, "hint")
        if hint:
            out["hint"] = hint
        required = str(row.get("required", "")).strip().lower()
        out["required"] = required in ("yes", "true", "true()", "1")
        if required not in ("", "yes", "no", "true", "false", "true()", "false()", "1", "0"):
            refused.append(
                Refusal(
                    "survey",
                    n,
                    col("survey", "required"),
                    f"required {required!r}: only yes or no (no expressions)",
                )
            )
            continue
        bad = False
        for key in ("relevant", "constraint"):
            expr = row.get(key)
            if not expr:
                continue
            try:
                compiled = compile_expr(str(expr))
            except ExprError as exc:
                refused.append(Refusal("survey", n, col("survey", key), exc.detail))
                bad = True
                continue
            unknown = sorted(r for r in compiled.refs if r not in names and r != name)
            if unknown:
                refused.append(
                    Refusal(
                        "survey",
                        n,
                        col("survey", key),
                        f"refers to {', '.join(unknown)}, not an earlier question",
                    )
                )
                bad = True
                continue
            out[key] = str(expr)
        if bad:
            continue
        message = texts(row, "constraint_message")
        if message:
            out["constraint_message"] = message
        names.add(name)
        fields.append(out)

    settings = (book.get("settings") or [{}])[0] or {}
    form_id = str(settings.get("form_id") or path.stem).lower().replace("-", "_")
    if not NAME_RE.match(form_id):
        refused.append(
            Refusal("settings", 2, col("settings", "form_id"), f"form_id {form_id!r} not usable")
        )
        form_id = "imported_form"
    if not fields:
        refused.append(Refusal("survey", None, None, "no question could be imported"))
        return Converted(None, refused)
    title = settings.get("form_title") or form_id
    form = {
        "form": form_id,
        "title": {"vi": str(title)},
        "submit": submit or form_id,
        "fields": fields,
    }
    return Converted(form, refused)
