"""Loading and validating the province's content: answer items and the area tree.

Content lives as YAML under `content/` (versioned in git, reviewed by the province): `items/*.yml`
hold answer items, `areas.yml` the tree of areas. `load_content` returns what is valid plus a list
of problems, each naming the file and the item; `python -m bot content check` prints them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from bot.i18n import LANGUAGES
from nlu.intents import INTENTS

MEDIA_KINDS = ("photo", "voice", "document")
ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
MAX_ANSWER_CHARS = 1200


@dataclass(frozen=True)
class Item:
    """One answer the bot can give, with what it is retrieved by and where its facts come from."""

    id: str
    intent: str
    title: dict[str, str]
    questions: tuple[str, ...]
    keywords: tuple[str, ...]
    answer: dict[str, str]
    source: str
    reviewed: date
    needs_review: bool = False
    media: dict[str, dict[str, str]] = field(default_factory=dict)
    file: str = ""

    def answer_for(self, lang: str) -> tuple[str, str]:
        """The answer text in `lang`, or Vietnamese; returns (text, language actually used)."""
        if self.answer.get(lang):
            return self.answer[lang], lang
        return self.answer["vi"], "vi"

    def title_for(self, lang: str) -> str:
        return self.title.get(lang) or self.title["vi"]


@dataclass(frozen=True)
class Area:
    """A node of the area tree (province, commune, village), addressed by a dotted code.

    `official_code`: the administrative-unit code (mã đơn vị hành chính, "21496"); `aliases`:
    the former units merged into it ("xã Ba Thành"), `alias_parts` those only partly merged
    (("xã Trà Bùi", "một phần"),); `source`: where a village's name comes from. Tree queries
    (by code, subtree, search by typed name) are in bot/areas.py."""

    code: str
    name: str
    level: str
    parent: str | None
    aliases: tuple[str, ...] = ()
    official_code: str | None = None
    alias_parts: tuple[tuple[str, str], ...] = ()
    source: str = ""


@dataclass
class Problem:
    file: str
    where: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        loc = f"{self.file}: {self.where}" if self.where else self.file
        return f"{self.severity}: {loc}: {self.message}"


@dataclass
class Content:
    items: list[Item]
    areas: list[Area]
    problems: list[Problem]
    root: Path
    _by_id: dict[str, Item] | None = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def by_id(self) -> dict[str, Item]:
        """Items by id (built once: content does not change while the bot runs)."""
        if self._by_id is None or len(self._by_id) != len(self.items):
            self._by_id = {i.id: i for i in self.items}
        return self._by_id


def _text_map(
    value: Any, key: str, where: str, file: str, problems: list[Problem]
) -> dict[str, str]:
    if isinstance(value, str):
        value = {"vi": value}
    if not isinstance(value, dict):
        problems.append(Problem(file, where, f"`{key}` must be a mapping of language code to text"))
        return {}
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            problems.append(
                Problem(
                    file,
                    where,
                    f"`{key}` has unknown language {lang!r}; use one of {', '.join(LANGUAGES)}",
                )
            )
            continue
        if text is None or (isinstance(text, str) and not text.strip()):
            continue  # an empty translation is simply missing
        if not isinstance(text, str):
            problems.append(Problem(file, where, f"`{key}.{lang}` must be text"))
            continue
        out[lang] = text.strip()
    if "vi" not in out:
        problems.append(
            Problem(file, where, f"`{key}.vi` is required (Vietnamese is the complete language)")
        )
    return out


def _str_list(
    value: Any, key: str, where: str, file: str, problems: list[Problem], required: bool
) -> tuple[str, ...]:
    if value is None:
        if required:
            problems.append(Problem(file, where, f"`{key}` is required: a list of texts"))
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(Problem(file, where, f"`{key}` must be a list of non-empty texts"))
        return ()
    return tuple(v.strip() for v in value)


def parse_item(raw: Any, file: str, index: int, root: Path, problems: list[Problem]) -> Item | None:
    """Validate one raw YAML item; append problems and return None when it cannot be used."""
    where = f"item #{index + 1}"
    if not isinstance(raw, dict):
        problems.append(
            Problem(
                file,
                where,
                "each item must be a mapping with id, intent, questions, answer, source, reviewed",
            )
        )
        return None
    start = len([p for p in problems if p.severity == "error"])
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not ID_RE.match(item_id):
        problems.append(
            Problem(
                file,
                where,
                "`id` must be lowercase words joined by dots or underscores, e.g. policy.housing",
            )
        )
        item_id = f"<invalid #{index + 1}>"
    else:
        where = f"item {item_id}"
    known = {
        "id",
        "intent",
        "title",
        "questions",
        "keywords",
        "answer",
        "source",
        "reviewed",
        "needs_review",
        "media",
    }
    for key in raw:
        if key not in known:
            problems.append(
                Problem(file, where, f"unknown field `{key}`; allowed: {', '.join(sorted(known))}")
            )
    intent = raw.get("intent")
    if intent not in INTENTS:
        problems.append(
            Problem(file, where, f"`intent` must be one of {', '.join(INTENTS)}; got {intent!r}")
        )
    title = _text_map(raw.get("title"), "title", where, file, problems)
    answer = _text_map(raw.get("answer"), "answer", where, file, problems)
    for lang, text in answer.items():
        if len(text) > MAX_ANSWER_CHARS:
            problems.append(
                Problem(
                    file,
                    where,
                    f"`answer.{lang}` is {len(text)} characters; "
                    f"keep answers under {MAX_ANSWER_CHARS}",
                )
            )
    questions = _str_list(raw.get("questions"), "questions", where, file, problems, required=True)
    if questions and len(questions) < 2:
        problems.append(Problem(file, where, "give at least 2 example questions", "warning"))
    keywords = _str_list(raw.get("keywords"), "keywords", where, file, problems, required=False)
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        problems.append(
            Problem(file, where, "`source` is required: the document the facts come from")
        )
        source = ""
    reviewed = raw.get("reviewed")
    if isinstance(reviewed, str):
        try:
            reviewed = date.fromisoformat(reviewed)
        except ValueError:
            reviewed = None
    if not isinstance(reviewed, date):
        problems.append(Problem(file, where, "`reviewed` must be a date written YYYY-MM-DD"))
        reviewed = date.min
    elif reviewed > date.today():
        problems.append(Problem(file, where, f"`reviewed` {reviewed} is in the future"))
    needs_review = raw.get("needs_review", False)
    if not isinstance(needs_review, bool):
        problems.append(Problem(file, where, "`needs_review` must be true or false"))
        needs_review = True
    media: dict[str, dict[str, str]] = {}
    raw_media = raw.get("media") or {}
    if not isinstance(raw_media, dict):
        problems.append(
            Problem(file, where, "`media` must map a language to {photo|voice|document: path}")
        )
    else:
        for lang, files in raw_media.items():
            if lang not in LANGUAGES or not isinstance(files, dict):
                problems.append(
                    Problem(
                        file,
                        where,
                        f"`media.{lang}` must be a language code mapping to "
                        "{photo|voice|document: path}",
                    )
                )
                continue
            for kind, rel in files.items():
                if kind not in MEDIA_KINDS or not isinstance(rel, str):
                    problems.append(
                        Problem(
                            file,
                            where,
                            f"`media.{lang}.{kind}`: kind must be one of "
                            f"{', '.join(MEDIA_KINDS)} with a path",
                        )
                    )
                    continue
                path = (root / rel).resolve()
                if not path.is_relative_to(root.resolve()) or not path.is_file():
                    problems.append(
                        Problem(
                            file,
                            where,
                            f"`media.{lang}.{kind}`: file {rel} not found under content/",
                        )
                    )
                    continue
                media.setdefault(lang, {})[kind] = rel
    if len([p for p in problems if p.severity == "error"]) > start:
        return None
    return Item(
        id=item_id,
        intent=intent,
        title=title,
        questions=questions,
        keywords=keywords,
        answer=answer,
        source=source.strip(),
        reviewed=reviewed,
        needs_review=needs_review,
        media=media,
        file=file,
    )


def _load_yaml(path: Path, root: Path, problems: list[Problem]) -> Any:
    rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem(rel, "", "file is not UTF-8 text; save it as UTF-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else ""
        problems.append(Problem(rel, at, f"YAML syntax error: {getattr(exc, 'problem', exc)}"))
    return None


def load_areas(root: Path, problems: list[Problem]) -> list[Area]:
    path = root / "areas.yml"
    if not path.exists():
        return []
    data = _load_yaml(path, root, problems)
    rel = "content/areas.yml"
    out: list[Area] = []
    seen: set[str] = set()

    def walk(node: Any, parent: str | None) -> None:
        if (
            not isinstance(node, dict)
            or not isinstance(node.get("code"), str)
            or not isinstance(node.get("name"), str)
        ):
            problems.append(
                Problem(rel, parent or "root", "each area needs `code` and `name` texts")
            )
            return
        code = node["code"] if parent is None else f"{parent}.{node['code']}"
        if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", node["code"]):
            problems.append(
                Problem(rel, code, "an area code is lowercase ASCII letters, digits and _")
            )
        if code in seen:
            problems.append(Problem(rel, code, "area code appears twice"))
        seen.add(code)
        aliases = node.get("aliases") or []
        parts = node.get("alias_parts") or {}
        official = node.get("official_code")
        if (
            not isinstance(aliases, list)
            or not all(isinstance(a, str) and a.strip() for a in aliases)
            or not isinstance(parts, dict)
            or not set(parts) <= set(aliases)
            or not isinstance(official, str | int | type(None))
        ):
            problems.append(
                Problem(
                    rel,
                    code,
                    "`aliases` must be a list of names, `alias_parts` map some of them to a "
                    "text, `official_code` a code",
                )
            )
            aliases, parts, official = [], {}, None
        out.append(
            Area(
                code=code,
                name=node["name"],
                level=str(node.get("level", "")),
                parent=parent,
                official_code=None if official is None else str(official),
                aliases=tuple(a.strip() for a in aliases),
                alias_parts=tuple((str(k), str(v)) for k, v in parts.items()),
                source=str(node.get("source") or ""),
            )
        )
        for child in node.get("children") or []:
            walk(child, code)

    if data is None:
        return out
    roots = data.get("areas") if isinstance(data, dict) else None
    if not isinstance(roots, list):
        problems.append(Problem(rel, "", "expected a top-level `areas:` list"))
        return out
    for node in roots:
        walk(node, None)
    return out


def load_items(root: str | Path) -> list[Item]:
    """The valid items under `root`: the content loader the `nlu` commands are given."""
    return load_content(root).items


def load_content(root: str | Path) -> Content:
    """Read every content file under `root`; invalid items are left out and reported."""
    root = Path(root)
    problems: list[Problem] = []
    items: list[Item] = []
    items_dir = root / "items"
    if not items_dir.is_dir():
        problems.append(
            Problem(str(root), "", "no items/ folder: content items go in content/items/*.yml")
        )
    seen: dict[str, str] = {}
    for path in sorted(items_dir.glob("*.yml")) if items_dir.is_dir() else []:
        rel = f"{root.name}/items/{path.name}"
        data = _load_yaml(path, root, problems)
        if data is None:
            continue
        raw_items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(raw_items, list):
            problems.append(Problem(rel, "", "expected a top-level `items:` list"))
            continue
        for i, raw in enumerate(raw_items):
            item = parse_item(raw, rel, i, root, problems)
            if item is None:
                continue
            if item.id in seen:
                problems.append(
                    Problem(rel, f"item {item.id}", f"id already used in {seen[item.id]}")
                )
                continue
            seen[item.id] = rel
            items.append(item)
    areas = load_areas(root, problems)
    return Content(items=items, areas=areas, problems=problems, root=root)
