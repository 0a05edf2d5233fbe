"""Reading NLU training data written in the Rasa 3 formats (YAML, and the older JSON).

Everything a valid Rasa 3 NLU file can hold is read: intents with examples (a block string of
`- example` lines or a list of `{text, metadata}` mappings), inline entity annotations
(`[text](entity)`, `[text](entity:value)`, `[text]{"entity": ..., "value": ...}`,
`[text][{...}, {...}]`) which are stripped to plain text and kept as entities, synonyms, regexes
and lookup tables (inline, or a text file of one entry a line). Retrieval-intent names such as
`faq/ask_fee` are kept as given. Files that hold no `nlu:` section (domain, stories, rules, config)
are skipped when a directory is read. A file that cannot be used raises `NluDataError` naming the
file and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DATA_SUFFIXES = (".yml", ".yaml", ".json")

# Rasa's own annotation grammar (rasa/shared/nlu/training_data/entities_parser.py).
ENTITY_RE = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\}|\[(?P<list_entity_dicts>.*?)\])"
)


class NluDataError(ValueError):
    """Training data that cannot be used; the message names the file and, where known, the line."""

    def __init__(self, file: str | Path, line: int | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    entity: str
    value: str
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """One training sentence: plain text (annotations removed), its intent and its entities."""

    text: str
    intent: str
    entities: tuple[Entity, ...] = ()
    source: str = ""  # "file:line" the example came from


@dataclass
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)  # variant -> canonical value
    regexes: list[tuple[str, str]] = field(default_factory=list)  # (name, pattern)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.examples:
            out[e.intent] = out.get(e.intent, 0) + 1
        return dict(sorted(out.items()))

    def entity_values(self) -> dict[str, set[str]]:
        """Texts annotated as each entity type, a gazetteer the classifier can use as a feature."""
        out: dict[str, set[str]] = {}
        for e in self.examples:
            for ent in e.entities:
                out.setdefault(ent.entity, set()).add(e.text[ent.start : ent.end])
        return out

    def extend(self, other: TrainingData) -> None:
        self.examples.extend(other.examples)
        self.synonyms.update(other.synonyms)
        self.regexes.extend(other.regexes)
        for name, entries in other.lookups.items():
            self.lookups.setdefault(name, []).extend(entries)
        self.files.extend(other.files)
        self.warnings.extend(other.warnings)


# -- YAML with line numbers ------------------------------------------------------------------------


class _LineStr(str):
    line: int = 0
    block: bool = False


class _LineDict(dict):
    line: int = 0


class _Loader(yaml.SafeLoader):
    """A safe loader that remembers where each mapping and string started."""


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> _LineStr:
    value = _LineStr(loader.construct_scalar(node))
    value.line = node.start_mark.line + 1
    value.block = node.style in ("|", ">")
    return value


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    value = _LineDict()
    value.line = node.start_mark.line + 1
    yield value
    value.update(loader.construct_mapping(node, deep=True))


_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _line(obj: Any, default: int | None = None) -> int | None:
    return getattr(obj, "line", None) or default


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise NluDataError(path, None, "file is not UTF-8 text; save it as UTF-8") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
        raise NluDataError(path, mark.line + 1 if mark else None, message) from exc


# -- annotations -----------------------------------------------------------------------------------


def parse_annotated(
    text: str, where: tuple[str | Path, int | None] = ("<text>", None)
) -> tuple[str, tuple[Entity, ...]]:
    """Strip Rasa entity annotations:
    "tôi ở [Ba Tơ](place)" -> ("tôi ở Ba Tơ", (Entity(6, 11, ...),))."""
    plain: list[str] = []
    entities: list[Entity] = []
    pos = 0
    length = 0
    for m in ENTITY_RE.finditer(text):
        before = text[pos : m.start()]
        plain.append(before)
        length += len(before)
        surface = m.group("entity_text")
        start, end = length, length + len(surface)
        plain.append(surface)
        length = end
        pos = m.end()
        for spec in _entity_specs(m, where):
            name = spec.get("entity")
            if not isinstance(name, str) or not name:
                raise NluDataError(
                    where[0], where[1], f"entity annotation {m.group(0)!r} has no entity name"
                )
            value = spec.get("value", surface)
            entities.append(
                Entity(
                    start, end, name, str(value), _opt(spec.get("role")), _opt(spec.get("group"))
                )
            )
    plain.append(text[pos:])
    return "".join(plain), tuple(entities)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _entity_specs(m: re.Match[str], where: tuple[str | Path, int | None]) -> list[dict[str, Any]]:
    if m.group("entity"):
        spec: dict[str, Any] = {"entity": m.group("entity").strip()}
        if m.group("value"):
            spec["value"] = m.group("value").strip()
        return [spec]
    raw = (
        "{" + m.group("entity_dict") + "}"
        if m.group("entity_dict")
        else "[" + (m.group("list_entity_dicts") or "") + "]"
    )
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NluDataError(
            where[0], where[1], f"entity annotation {m.group(0)!r} is not valid JSON: {exc.msg}"
        ) from exc
    specs = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(s, dict) for s in specs):
        raise NluDataError(
            where[0],
            where[1],
            f"entity annotation {m.group(0)!r} must be a JSON object or a list of them",
        )
    return specs


# -- the YAML format -------------------------------------------------------------------------------


def _example_lines(
    value: Any, path: Path, key: str, owner: Any, warnings: list[str]
) -> list[tuple[str, int | None, Any]]:
    """(text, line, metadata) for each example of an `examples:` value in either Rasa form."""
    base = _line(value, _line(owner))
    out: list[tuple[str, int | None, Any]] = []
    if isinstance(value, str):
        first = base + 1 if base and getattr(value, "block", False) else base
        for offset, raw in enumerate(value.splitlines()):
            line = raw.strip()
            if not line:
                continue
            where = first + offset if first else None
            if line[0] not in "-*":
                # Rasa warns and skips such a line too; a training run should not stop for it.
                warnings.append(
                    f"{path}:{where}: in `{key}` an example must start with '- '; "
                    f"skipped {line[:40]!r}"
                )
                continue
            text = line[1:].strip()
            if text:
                out.append((text, where, None))
        return out
    if isinstance(value, list):
        for entry in value:
            if isinstance(entry, str):
                if entry.strip():
                    out.append((entry.strip(), _line(entry, base), None))
            elif isinstance(entry, dict) and isinstance(entry.get("text"), str):
                if entry["text"].strip():
                    out.append((entry["text"].strip(), _line(entry, base), entry.get("metadata")))
            else:
                raise NluDataError(
                    path,
                    _line(entry, base),
                    f"in `{key}` each example must be text or a mapping with `text:`",
                )
        return out
    raise NluDataError(
        path,
        base,
        f"`{key}` needs `examples:`, a block of '- example' lines or a list of {{text: ...}}",
    )


def _lookup_entries(file: Path) -> list[str]:
    """A lookup table file: one entry a line (a leading "- " allowed), "#" lines are comments."""
    entries = [ln.strip() for ln in file.read_text(encoding="utf-8").splitlines()]
    entries = [
        e[1:].strip() if e[:1] in "-*" else e for e in entries if e and not e.startswith("#")
    ]
    return [e for e in entries if e]


def _lookup_file(value: Any, path: Path) -> Path | None:
    if not isinstance(value, str) or "\n" in value.strip() or value.strip().startswith(("-", "*")):
        return None
    candidate = Path(value.strip())
    for p in (path.parent / candidate, candidate):
        if p.is_file():
            return p
    return None


def _parse_yaml_nlu(path: Path, data: Any) -> TrainingData:
    out = TrainingData(files=[str(path)])
    items = data.get("nlu")
    if items is None:
        return out
    if not isinstance(items, list):
        raise NluDataError(
            path,
            _line(data),
            "`nlu:` must be a list of `- intent:`, `- synonym:`, `- regex:` or `- lookup:` entries",
        )
    for entry in items:
        line = _line(entry)
        if not isinstance(entry, dict):
            raise NluDataError(
                path, line, "each entry under `nlu:` must be a mapping such as `- intent: greet`"
            )
        kinds = [k for k in ("intent", "synonym", "regex", "lookup") if k in entry]
        if len(kinds) != 1:
            raise NluDataError(
                path, line, "each `nlu:` entry needs exactly one of intent, synonym, regex, lookup"
            )
        kind = kinds[0]
        name = entry[kind]
        if not isinstance(name, str | int | float) or not str(name).strip():
            raise NluDataError(path, line, f"`{kind}:` needs a name")
        name = str(name).strip()
        examples = entry.get("examples")
        label = f"{kind} {name}"
        if kind == "lookup" and examples is None and isinstance(entry.get("file"), str):
            examples = entry["file"]
        if examples is None:
            out.warnings.append(f"{path}:{line}: {label} has no examples; skipped")
            continue
        if kind == "lookup" and (file := _lookup_file(examples, path)) is not None:
            out.lookups.setdefault(name, []).extend(_lookup_entries(file))
            continue
        rows = _example_lines(examples, path, label, entry, out.warnings)
        if kind == "intent":
            for text, ex_line, _meta in rows:
                plain, entities = parse_annotated(text, (path, ex_line))
                plain = plain.strip()
                if plain:
                    out.examples.append(Example(plain, name, entities, f"{path}:{ex_line or line}"))
                    _learn_synonyms(plain, entities, out.synonyms)
        elif kind == "synonym":
            for text, _l, _m in rows:
                if text != name:
                    out.synonyms[text] = name
        elif kind == "regex":
            for pattern, ex_line, _m in rows:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise NluDataError(
                        path,
                        ex_line or line,
                        f"regex {name!r}: {pattern!r} is not a valid regular expression ({exc})",
                    ) from exc
                out.regexes.append((name, pattern))
        else:
            out.lookups.setdefault(name, []).extend(text for text, _l, _m in rows)
    return out


def _learn_synonyms(text: str, entities: Iterable[Entity], synonyms: dict[str, str]) -> None:
    # Rasa's EntitySynonymMapper learns a synonym from every annotation whose value differs from its
    # text.
    for ent in entities:
        surface = text[ent.start : ent.end]
        if ent.value and ent.value != surface:
            synonyms[surface] = ent.value


# -- the JSON format -------------------------------------------------------------------------------


def _parse_json(path: Path) -> TrainingData:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise NluDataError(path, None, "file is not UTF-8 text; save it as UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise NluDataError(path, exc.lineno, f"JSON syntax error: {exc.msg}") from exc
    nlu = data.get("rasa_nlu_data") if isinstance(data, dict) else None
    if not isinstance(nlu, dict):
        return TrainingData()
    out = TrainingData(files=[str(path)])
    for i, ex in enumerate(nlu.get("common_examples") or []):
        if not isinstance(ex, dict) or not isinstance(ex.get("text"), str):
            raise NluDataError(path, None, f"common_examples[{i}] needs `text`")
        if not ex.get("intent"):
            continue  # an entity-only example teaches no intent
        text = ex["text"]
        entities = []
        for ent in ex.get("entities") or []:
            try:
                entities.append(
                    Entity(
                        int(ent["start"]),
                        int(ent["end"]),
                        str(ent["entity"]),
                        str(ent.get("value", text[int(ent["start"]) : int(ent["end"])])),
                        _opt(ent.get("role")),
                        _opt(ent.get("group")),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise NluDataError(
                    path, None, f"common_examples[{i}]: entity needs start, end and entity"
                ) from exc
        out.examples.append(Example(text, str(ex["intent"]), tuple(entities), f"{path}:#{i + 1}"))
        _learn_synonyms(text, entities, out.synonyms)
    for syn in nlu.get("entity_synonyms") or []:
        for variant in syn.get("synonyms") or []:
            out.synonyms[str(variant)] = str(syn["value"])
    for rx in nlu.get("regex_features") or []:
        try:
            re.compile(rx["pattern"])
        except (re.error, KeyError, TypeError) as exc:
            raise NluDataError(
                path, None, f"regex_features: {rx!r} is not a valid regular expression"
            ) from exc
        out.regexes.append((str(rx.get("name", "regex")), rx["pattern"]))
    for lk in nlu.get("lookup_tables") or []:
        elements = lk.get("elements") or []
        if isinstance(elements, str) and (file := _lookup_file(elements, path)) is not None:
            elements = _lookup_entries(file)
        out.lookups.setdefault(str(lk.get("name")), []).extend(str(e) for e in elements)
    return out


# -- entry points ----------------------------------------------------------------------------------


def load_file(path: str | Path, *, required: bool = True) -> TrainingData:
    """Read one Rasa NLU file. With `required`, a file with no NLU section is an error."""
    path = Path(path)
    if path.suffix == ".json":
        data = _parse_json(path)
    else:
        raw = _read_yaml(path)
        if raw is None:
            raw = _LineDict()
        if not isinstance(raw, dict):
            raise NluDataError(path, _line(raw), "expected a mapping with a top-level `nlu:` list")
        data = _parse_yaml_nlu(path, raw)
        if "nlu" not in raw:
            data.files = []
    if required and not data.files:
        raise NluDataError(path, None, "no `nlu:` section: this is not an NLU training data file")
    return data


def data_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files to read: each file given, and every .yml/.yaml/.json under each directory given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in DATA_SUFFIXES))
        elif p.is_file():
            out.append(p)
        else:
            raise NluDataError(p, None, "no such file or directory")
    return out


def load_paths(paths: Iterable[str | Path]) -> TrainingData:
    """Read every NLU file among `paths` (files or directories) into one `TrainingData`."""
    paths = list(paths)
    explicit = {Path(p) for p in paths if Path(p).is_file()}
    out = TrainingData()
    for f in data_files(paths):
        out.extend(load_file(f, required=f in explicit))
    if not out.examples:
        where = ", ".join(str(p) for p in paths) or "(no paths)"
        raise NluDataError(
            where,
            None,
            "no intent examples found; NLU data are `nlu:` files with `- intent:` entries",
        )
    return out
