"""Form files (`content/forms/*.yml`) and the content lists their choices come from.

A form is data: its fields, their types, prompts per language (Vietnamese required, others fall
back to it), what is required, skip logic (`relevant`) and checks (`constraint`), and the name of
the submit handler that receives the answers (bot/flows/forms/submit.py). `load_forms` reads and
validates every file and returns the usable forms plus a list of problems (file, field, what to
fix), which `python -m bot forms check` and `python -m bot content check` print.

    form: feedback                 # the form's name (the file's name without .yml)
    title: {vi: "Phản ánh, kiến nghị"}
    submit: feedback               # @submit_handler("feedback")
    consent: feedback              # consent purpose asked first (bot/flows/consent.py)
    fields:
      - name: category
        type: choice               # text number choice multi_choice date period photo audio
        from: feedback_categories  # location yes_no; or `choices:` [{value, label}]
        label: {vi: "Loại"}        # in the summary
        prompt: {vi: "Bạn muốn phản ánh về việc gì?"}
      - name: phone
        type: text
        format: phone              # a Vietnamese phone number
        required: false
        relevant: "${category} != 'tro_ly'"
        constraint: "string-length(.) >= 10"
        constraint_message: {vi: "..."}

Content lists: `projects.yml` (number, name), `indicators.yml` (code, project, name, unit),
`feedback_categories.yml` (code, name), and the area tree (`areas.yml`, bot/content.py) whose
areas may carry `aliases` (former names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.content import Area, Problem
from bot.flows.forms.errors import ExprError
from bot.flows.forms.expr import Expr, compile_expr
from bot.flows.forms.parse import PERIOD_KINDS
from bot.i18n import LANGUAGES

TEXT_LANGS = (*LANGUAGES, "en")
FIELD_TYPES = (
    "text",
    "number",
    "choice",
    "multi_choice",
    "date",
    "period",
    "photo",
    "audio",
    "location",
    "yes_no",
)
CHOICE_TYPES = ("choice", "multi_choice")
MEDIA_TYPES = ("photo", "audio", "location")
SOURCES = ("projects", "indicators", "areas", "feedback_categories")
TEXT_FORMATS = ("phone",)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
VALUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")  # fits a button payload
RESERVED = {"summary", "edit", "done"}  # steps of the flow that are not fields
FIELD_KEYS = {
    "name",
    "type",
    "label",
    "prompt",
    "hint",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "choices",
    "from",
    "filter",
    "levels",
    "unit",
    "unit_from",
    "min",
    "max",
    "number",
    "periods",
    "format",
    "max_length",
    "default",
    "page_size",
    "questions",
}
FORM_KEYS = {"form", "title", "submit", "consent", "intro", "fields", "needs_review", "source"}
DEFAULT_PAGE = 8
MAX_TEXT = 1000


def text_for(texts: dict[str, str], lang: str) -> str:
    """The text in `lang`, falling back to Vietnamese."""
    return texts.get(lang) or texts.get("vi", "")


@dataclass(frozen=True)
class Option:
    value: str | int
    label: dict[str, str]
    aliases: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # unit, project, parent...

    def label_for(self, lang: str) -> str:
        return text_for(self.label, lang)


@dataclass(frozen=True)
class FormField:
    name: str
    type: str
    label: dict[str, str]
    prompt: dict[str, str]
    hint: dict[str, str] = field(default_factory=dict)
    required: bool = True
    relevant: Expr | None = None
    constraint: Expr | None = None
    constraint_message: dict[str, str] = field(default_factory=dict)
    choices: tuple[Option, ...] = ()
    source: str | None = None
    filter: str | None = None  # options whose `project` (or parent) matches this field's answer
    levels: tuple[str, ...] = ()
    unit: dict[str, str] = field(default_factory=dict)
    unit_from: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    periods: tuple[str, ...] = PERIOD_KINDS
    format: str | None = None
    max_length: int = MAX_TEXT
    default: str | None = None
    page_size: int = DEFAULT_PAGE
    questions: bool = True  # a question typed here is answered (False: it is the answer)


@dataclass(frozen=True)
class Form:
    name: str
    title: dict[str, str]
    submit: str
    fields: tuple[FormField, ...]
    consent: str | None = None
    intro: dict[str, str] = field(default_factory=dict)
    file: str = ""

    def field(self, name: str) -> FormField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def index(self, name: str) -> int:
        for i, f in enumerate(self.fields):
            if f.name == name:
                return i
        return -1


@dataclass
class Lists:
    """The content lists choices come from."""

    projects: tuple[Option, ...] = ()
    indicators: tuple[Option, ...] = ()
    feedback_categories: tuple[Option, ...] = ()
    problems: list[Problem] = field(default_factory=list)

    def source(self, name: str, areas: list[Area] | tuple[Area, ...] = ()) -> tuple[Option, ...]:
        if name == "areas":
            return tuple(area_option(a) for a in areas)
        return getattr(self, name, ())


def area_option(area: Area) -> Option:
    aliases = tuple(a for a in getattr(area, "aliases", ()) or () if isinstance(a, str))
    return Option(
        area.code,
        {"vi": area.name},
        aliases,
        {"level": area.level, "parent": area.parent},
    )


@dataclass
class FormSet:
    forms: dict[str, Form]
    lists: Lists
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _text_map(value: Any, key: str, where: str, file: str, problems: list[Problem], required=True):
    if value is None and not required:
        return {}
    if isinstance(value, str):
        value = {"vi": value}
    if not isinstance(value, dict):
        problems.append(Problem(file, where, f"`{key}` must be a text or a mapping language: text"))
        return {}
    out = {}
    for lang, text in value.items():
        if lang not in TEXT_LANGS:
            problems.append(
                Problem(file, where, f"`{key}` has unknown language {lang!r}; use {TEXT_LANGS}")
            )
        elif isinstance(text, str) and text.strip():
            out[lang] = text.strip()
        elif text is not None:
            problems.append(Problem(file, where, f"`{key}.{lang}` must be text"))
    if "vi" not in out and (required or out):
        problems.append(Problem(file, where, f"`{key}.vi` is required (Vietnamese is complete)"))
    return out


def _yaml(path: Path, rel: str, problems: list[Problem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(rel, "", "file is not UTF-8 text; save it as UTF-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else ""
        problems.append(Problem(rel, at, f"YAML syntax error: {getattr(exc, 'problem', exc)}"))
    except OSError as exc:
        problems.append(Problem(rel, "", f"cannot read: {exc.strerror}"))
    return None


def load_lists(root: Path) -> Lists:
    lists = Lists()
    p = lists.problems
    specs = {
        "projects": ("projects.yml", "projects", "number"),
        "indicators": ("indicators.yml", "indicators", "code"),
        "feedback_categories": ("feedback_categories.yml", "categories", "code"),
    }
    for attr, (filename, key, id_key) in specs.items():
        path = root / filename
        rel = f"{root.name}/{filename}"
        if not path.is_file():
            continue
        data = _yaml(path, rel, p)
        rows = data.get(key) if isinstance(data, dict) else None
        if not isinstance(rows, list):
            p.append(Problem(rel, "", f"expected a top-level `{key}:` list"))
            continue
        out: list[Option] = []
        seen: set = set()
        for i, row in enumerate(rows):
            where = f"#{i + 1}"
            if not isinstance(row, dict):
                p.append(Problem(rel, where, f"each entry needs `{id_key}` and `name`"))
                continue
            ident = row.get(id_key)
            if attr == "projects":
                ok = isinstance(ident, int) and not isinstance(ident, bool) and 1 <= ident <= 99
            else:
                ok = isinstance(ident, str) and bool(VALUE_RE.match(ident))
            if not ok:
                p.append(Problem(rel, where, f"`{id_key}` missing or not valid: {ident!r}"))
                continue
            where = f"{id_key} {ident}"
            if ident in seen:
                p.append(Problem(rel, where, f"`{id_key}` appears twice"))
                continue
            seen.add(ident)
            name = _text_map(row.get("name"), "name", where, rel, p)
            if not name:
                continue
            extra: dict[str, Any] = {}
            if attr == "projects":
                name = {k: f"Dự án {ident}: {v}" if k == "vi" else v for k, v in name.items()}
            if attr == "indicators":
                project, unit = row.get("project"), row.get("unit")
                if not isinstance(project, int) or isinstance(project, bool):
                    p.append(Problem(rel, where, "`project` must be the project's number"))
                    continue
                unit_map = _text_map(unit, "unit", where, rel, p)
                if not unit_map:
                    continue
                extra = {"project": project, "unit": unit_map}
            aliases = row.get("aliases") or []
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                p.append(Problem(rel, where, "`aliases` must be a list of texts"))
                aliases = []
            out.append(Option(ident, name, tuple(aliases), extra))
        setattr(lists, attr, tuple(out))
    if lists.indicators and lists.projects:
        numbers = {o.value for o in lists.projects}
        for o in lists.indicators:
            if o.extra["project"] not in numbers:
                p.append(
                    Problem(
                        f"{root.name}/indicators.yml",
                        f"code {o.value}",
                        f"project {o.extra['project']} is not in projects.yml",
                    )
                )
    return lists


def _number(raw: Any, key: str, where: str, file: str, problems: list[Problem]) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        problems.append(Problem(file, where, f"`{key}` must be a number"))
        return None
    return raw


def parse_field(
    raw: Any, index: int, earlier: dict[str, FormField], file: str, problems: list[Problem]
) -> FormField | None:
    where = f"field #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(Problem(file, where, "each field must be a mapping with name and type"))
        return None
    start = sum(1 for p in problems if p.severity == "error")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or name in RESERVED:
        problems.append(
            Problem(
                file,
                where,
                "`name` must be lowercase letters, digits, _ (max 32), not "
                f"{', '.join(sorted(RESERVED))}; got {name!r}",
            )
        )
        name = f"field{index + 1}"
    else:
        where = f"field {name}"
    if name in earlier:
        problems.append(Problem(file, where, "two fields have this name"))
    for key in raw:
        if key not in FIELD_KEYS:
            problems.append(
                Problem(
                    file, where, f"unknown key `{key}`; allowed: {', '.join(sorted(FIELD_KEYS))}"
                )
            )
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        problems.append(
            Problem(file, where, f"`type` must be one of {', '.join(FIELD_TYPES)}; got {ftype!r}")
        )
        return None
    prompt = _text_map(raw.get("prompt"), "prompt", where, file, problems)
    label = _text_map(raw.get("label"), "label", where, file, problems, required=False) or prompt
    hint = _text_map(raw.get("hint"), "hint", where, file, problems, required=False)
    cmsg = _text_map(
        raw.get("constraint_message"), "constraint_message", where, file, problems, required=False
    )
    required = raw.get("required", True)
    if not isinstance(required, bool):
        problems.append(Problem(file, where, "`required` must be true or false"))
        required = True
    exprs: dict[str, Expr | None] = {}
    for key in ("relevant", "constraint"):
        text = raw.get(key)
        exprs[key] = None
        if text is None:
            continue
        try:
            expr = compile_expr(text)
        except ExprError as exc:
            problems.append(Problem(file, where, f"`{key}`: {exc.detail}"))
            continue
        unknown = sorted(r for r in expr.refs if r not in earlier and r != name)
        if unknown:
            problems.append(
                Problem(
                    file,
                    where,
                    f"`{key}` refers to {', '.join(unknown)}, not an earlier field of the form",
                )
            )
            continue
        if key == "relevant" and name in expr.refs:
            problems.append(Problem(file, where, "`relevant` cannot refer to the field itself"))
            continue
        exprs[key] = expr
    choices: list[Option] = []
    source = raw.get("from")
    if ftype in CHOICE_TYPES:
        raw_choices = raw.get("choices")
        if (source is None) == (raw_choices is None):
            problems.append(
                Problem(
                    file,
                    where,
                    f"a {ftype} field needs either `choices` or `from` ({', '.join(SOURCES)})",
                )
            )
        elif source is not None and source not in SOURCES:
            problems.append(
                Problem(file, where, f"`from` must be one of {', '.join(SOURCES)}; got {source!r}")
            )
        elif raw_choices is not None:
            if not isinstance(raw_choices, list) or not raw_choices:
                problems.append(Problem(file, where, "`choices` must be a non-empty list"))
            else:
                seen: set = set()
                for j, c in enumerate(raw_choices):
                    cw = f"{where} choice #{j + 1}"
                    if not isinstance(c, dict) or "value" not in c:
                        problems.append(Problem(file, cw, "each choice needs `value` and `label`"))
                        continue
                    value = c["value"]
                    if isinstance(value, bool) or not (
                        isinstance(value, int) or (isinstance(value, str) and VALUE_RE.match(value))
                    ):
                        problems.append(
                            Problem(
                                file,
                                cw,
                                "`value` must be a number or a short code (letters, digits, _ . -)",
                            )
                        )
                        continue
                    if value in seen:
                        problems.append(Problem(file, cw, f"value {value!r} appears twice"))
                        continue
                    seen.add(value)
                    lab = _text_map(c.get("label"), "label", cw, file, problems)
                    aliases = c.get("aliases") or []
                    if not isinstance(aliases, list):
                        aliases = []
                    choices.append(Option(value, lab, tuple(str(a) for a in aliases)))
    elif source is not None or raw.get("choices") is not None:
        problems.append(Problem(file, where, "`from` and `choices` are for choice fields only"))
    flt = raw.get("filter")
    if flt is not None and (not isinstance(flt, str) or flt not in earlier):
        problems.append(Problem(file, where, f"`filter` must name an earlier field; got {flt!r}"))
        flt = None
    levels = raw.get("levels") or ()
    if not isinstance(levels, (list, tuple)) or not all(isinstance(lv, str) for lv in levels):
        problems.append(Problem(file, where, "`levels` must be a list such as [commune, village]"))
        levels = ()
    unit = _text_map(raw.get("unit"), "unit", where, file, problems, required=False)
    unit_from = raw.get("unit_from")
    if unit_from is not None and (
        not isinstance(unit_from, str)
        or unit_from not in earlier
        or earlier[unit_from].source != "indicators"
    ):
        problems.append(
            Problem(file, where, "`unit_from` must name an earlier field `from: indicators`")
        )
        unit_from = None
    minimum = _number(raw.get("min"), "min", where, file, problems)
    maximum = _number(raw.get("max"), "max", where, file, problems)
    if minimum is not None and maximum is not None and minimum > maximum:
        problems.append(Problem(file, where, "`min` is larger than `max`"))
    kind = raw.get("number", "decimal")
    if kind not in ("integer", "decimal"):
        problems.append(Problem(file, where, "`number` must be integer or decimal"))
    periods = raw.get("periods", list(PERIOD_KINDS))
    if not isinstance(periods, list) or not periods or any(p not in PERIOD_KINDS for p in periods):
        problems.append(
            Problem(file, where, f"`periods` must be a list of {', '.join(PERIOD_KINDS)}")
        )
        periods = list(PERIOD_KINDS)
    fmt = raw.get("format")
    if fmt is not None and (ftype != "text" or fmt not in TEXT_FORMATS):
        problems.append(Problem(file, where, f"`format` is for text fields: {TEXT_FORMATS}"))
        fmt = None
    max_length = raw.get("max_length", MAX_TEXT)
    if (
        not isinstance(max_length, int)
        or isinstance(max_length, bool)
        or not 1 <= max_length <= 4000
    ):
        problems.append(Problem(file, where, "`max_length` must be a whole number 1-4000"))
        max_length = MAX_TEXT
    page_size = raw.get("page_size", DEFAULT_PAGE)
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 2 <= page_size <= 12:
        problems.append(Problem(file, where, "`page_size` must be a whole number 2-12"))
        page_size = DEFAULT_PAGE
    questions = raw.get("questions", True)
    if not isinstance(questions, bool):
        problems.append(Problem(file, where, "`questions` must be true or false"))
        questions = True
    default = raw.get("default")
    if default is not None and not isinstance(default, (str, int)):
        problems.append(Problem(file, where, "`default` must be a value or a provider name"))
        default = None
    if sum(1 for p in problems if p.severity == "error") > start:
        return None
    return FormField(
        name=name,
        type=ftype,
        label=label,
        prompt=prompt,
        hint=hint,
        required=required,
        relevant=exprs["relevant"],
        constraint=exprs["constraint"],
        constraint_message=cmsg,
        choices=tuple(choices),
        source=source,
        filter=flt,
        levels=tuple(levels),
        unit=unit,
        unit_from=unit_from,
        minimum=minimum,
        maximum=maximum,
        integer=kind == "integer",
        periods=tuple(periods),
        format=fmt,
        max_length=max_length,
        default=None if default is None else str(default),
        page_size=page_size,
        questions=questions,
    )


def parse_form(
    data: Any, file: str, problems: list[Problem], stem: str | None = None
) -> Form | None:
    if not isinstance(data, dict):
        problems.append(
            Problem(file, "", "a form file is a mapping with form, title, submit, fields")
        )
        return None
    start = sum(1 for p in problems if p.severity == "error")
    for key in data:
        if key not in FORM_KEYS:
            problems.append(
                Problem(file, "", f"unknown key `{key}`; allowed: {', '.join(sorted(FORM_KEYS))}")
            )
    name = data.get("form")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(Problem(file, "", f"`form` must be a short lowercase name; got {name!r}"))
        name = stem or "form"
    elif stem is not None and name != stem:
        problems.append(Problem(file, "", f"`form: {name}` must match the file name {stem}.yml"))
    title = _text_map(data.get("title"), "title", "", file, problems)
    intro = _text_map(data.get("intro"), "intro", "", file, problems, required=False)
    submit = data.get("submit")
    if not isinstance(submit, str) or not NAME_RE.match(submit):
        problems.append(Problem(file, "", "`submit` must name a submit handler, e.g. report"))
        submit = ""
    consent = data.get("consent")
    if consent is not None and not isinstance(consent, str):
        problems.append(Problem(file, "", "`consent` must be a consent purpose"))
        consent = None
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.append(Problem(file, "", "`fields` must be a non-empty list"))
        return None
    fields: dict[str, FormField] = {}
    for i, raw in enumerate(raw_fields):
        f = parse_field(raw, i, fields, file, problems)
        if f is not None:
            fields[f.name] = f
    if sum(1 for p in problems if p.severity == "error") > start:
        return None
    return Form(
        name=name,
        title=title,
        submit=submit,
        fields=tuple(fields.values()),
        consent=consent,
        intro=intro,
        file=file,
    )


def load_forms(root: str | Path) -> FormSet:
    """Every form under `root/forms` and the lists they use; invalid forms are left out."""
    root = Path(root)
    lists = load_lists(root)
    problems = list(lists.problems)
    forms: dict[str, Form] = {}
    folder = root / "forms"
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else []:
        rel = f"{root.name}/forms/{path.name}"
        data = _yaml(path, rel, problems)
        if data is None:
            continue
        form = parse_form(data, rel, problems, stem=path.stem)
        if form is None:
            continue
        for f in form.fields:
            if f.source and f.source != "areas" and not lists.source(f.source):
                problems.append(
                    Problem(
                        rel,
                        f"field {f.name}",
                        f"`from: {f.source}`: the list is empty or missing ({f.source}.yml)",
                    )
                )
        forms[form.name] = form
    return FormSet(forms, lists, problems)


_cache: dict[Path, FormSet] = {}


def forms_for(root: Path) -> FormSet:
    """The forms under a content root, read once per process (content does not change while the
    bot runs)."""
    root = Path(root).resolve()
    got = _cache.get(root)
    if got is None:
        got = _cache[root] = load_forms(root)
    return got
