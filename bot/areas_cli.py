"""`python -m bot areas build-from FILE | import FILE | list [CODE] | find TEXT`.

- `build-from`: (re)generate content/areas.yml from the official commune list (the JSON of
  content/sources, a copy of ../shared/data), keeping the villages already imported;
- `import`: villages from a commune's list, CSV or XLSX, columns code, name, level, parent
  (dotted or official code); every bad row is reported with its line (CSV) or row (XLSX) number
  and then nothing is written; otherwise the file is replaced atomically. The bot reads the tree
  at start: restart it to offer the new villages.
- `list`: the tree, one area a line, its dotted code first;
- `find`: what a typed name finds ("ba thanh" -> xã Ba Động by its former name).

Villages go into the content file, not the database: the tree stays one reviewed, versioned file
(`content check` validates it, git shows what changed), the form engine and every process read it
the same way, and `build-from` keeps them when the communes are regenerated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot import areas_build as ab

DEFAULT_SOURCE = "content/sources/quang-ngai-communes-2025.json"


def _areas_file(args: argparse.Namespace) -> Path:
    if args.file:
        return Path(args.file)
    from bot.config import load_settings

    settings = load_settings(args.config)
    return settings.path(settings.content_dir) / "areas.yml"


def cmd_build(args: argparse.Namespace) -> int:
    path = _areas_file(args)
    source = Path(args.source)
    if not source.is_file():
        print(f"{source}: no such file", file=sys.stderr)
        return 1
    built = ab.build_tree(source, path)
    ab.write_areas(path, ab.render(built.tree, ab.build_header(source, built)))
    communes = len(built.tree["children"])
    print(f"wrote {path}: {communes} communes, {len(built.kept)} villages kept")
    for old, new in built.moved:
        print(f"  moved {old} -> {new} (its commune merged into the new one)")
    for code, why in built.dropped:
        print(f"  NOT kept {code}: {why}", file=sys.stderr)
    for code, name, sentence in built.unparsed:
        print(f"  note not understood, {code} ({name}): {sentence}", file=sys.stderr)
    for code, name, remark in built.remarks:
        print(f"  source disagrees with itself, {code} ({name}): {remark}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    path = _areas_file(args)
    source = Path(args.source)
    if not source.is_file():
        print(f"{source}: no such file", file=sys.stderr)
        return 1
    try:
        rows = ab.read_rows(source)
        tree = ab.load_tree(path)
        label = "row" if source.suffix.lower() in (".xlsx", ".xlsm") else "line"
        added, updated = ab.import_rows(tree, rows, label)
    except ab.ImportError_ as exc:
        for problem in exc.problems:
            print(f"{source.name}: {problem}", file=sys.stderr)
        print(f"nothing imported: fix the {len(exc.problems)} problem(s) above", file=sys.stderr)
        return 1
    ab.write_areas(path, ab.render(tree, ab.header_of(path)))
    print(f"imported {source.name} into {path}: {added} added, {updated} changed")
    print("restart the bot to offer them")
    return 0


def _tree(path: Path):
    """The indexed tree of an areas file (any name), problems printed."""
    import shutil
    import tempfile

    from bot.areas import AreaTree
    from bot.content import load_areas

    problems: list = []
    if path.name == "areas.yml":
        areas = load_areas(path.parent, problems)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(path, Path(tmp) / "areas.yml")
            areas = load_areas(Path(tmp), problems)
    for p in problems:
        print(p, file=sys.stderr)
    return AreaTree(areas)


def cmd_list(args: argparse.Namespace) -> int:
    tree = _tree(_areas_file(args))
    chosen = tree.areas
    if args.code:
        root = tree.get(args.code)
        if root is None:
            print(f"no area {args.code!r}; try `python -m bot areas find TEXT`", file=sys.stderr)
            return 1
        chosen = tuple(tree.subtree(root.code))
    for a in chosen:
        line = f"{a.code}\t{a.name}\t{a.level}\t{a.official_code or ''}"
        if args.aliases and a.aliases:
            line += f"\tcũ: {', '.join(a.aliases)}"
        print(line.rstrip("\t"))
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    found = _tree(_areas_file(args)).search(" ".join(args.text))
    for m in found[:20]:
        print(f"{m.area.code}\t{m.describe()}")
    if not found:
        print("nothing found", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    ar = sub.add_parser("areas", help="the area tree: build, import villages, list, find")
    ars = ar.add_subparsers(dest="areas_command", required=True)

    def with_file(p: argparse.ArgumentParser) -> None:
        p.add_argument("--file", help="the areas file (default: <content>/areas.yml)")

    b = ars.add_parser("build-from", help="regenerate the communes from the official list")
    b.add_argument("source", nargs="?", default=DEFAULT_SOURCE)
    with_file(b)
    b.set_defaults(func=cmd_build)
    i = ars.add_parser("import", help="add villages from a CSV or XLSX (code,name,level,parent)")
    i.add_argument("source")
    with_file(i)
    i.set_defaults(func=cmd_import)
    ls = ars.add_parser("list", help="the tree, one area a line, its dotted code first")
    ls.add_argument("code", nargs="?", help="only this area and what is under it")
    ls.add_argument("--aliases", action="store_true", help="also the former names")
    with_file(ls)
    ls.set_defaults(func=cmd_list)
    f = ars.add_parser("find", help="what a typed name finds (former names included)")
    f.add_argument("text", nargs="+")
    with_file(f)
    f.set_defaults(func=cmd_find)
