"""`python -m bot forms check` and `python -m bot forms import FILE.xlsx`.

`check` validates every form under content/forms and the lists they use, and says which submit
handlers are not registered yet; exit 1 on any error. `import` turns an XLSForm workbook into a
form file (bot/flows/forms/xlsform.py), prints every row and column it could not express, and
writes the file only when nothing was refused (or with `--partial`); exit 1 when something was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

import yaml


def _content_root(args: argparse.Namespace) -> Path:
    if getattr(args, "dir", None):
        return Path(args.dir)
    from bot.config import load_settings

    settings = load_settings(args.config)
    return settings.path(settings.content_dir)


def run_check(root: Path, out: TextIO) -> int:
    import actions  # noqa: F401 - registers the submit handlers with the actions
    from bot.flows.forms.schema import load_forms
    from bot.flows.forms.submit import HANDLERS

    forms = load_forms(root)
    for p in forms.problems:
        out.write(f"{p}\n")
    lists = forms.lists
    out.write(
        f"{len(forms.forms)} forms; {len(lists.projects)} projects, {len(lists.indicators)} "
        f"indicators, {len(lists.feedback_categories)} feedback categories\n"
    )
    for form in forms.forms.values():
        types = ", ".join(f"{f.name} ({f.type})" for f in form.fields)
        missing = "" if form.submit in HANDLERS else "  [submit handler not registered yet]"
        out.write(f"  {form.name}: submit {form.submit}{missing}\n    {types}\n")
    errors = forms.errors
    out.write(f"{len(errors)} errors\n")
    return 1 if errors else 0


def cmd_check(args: argparse.Namespace) -> int:
    return run_check(_content_root(args), sys.stdout)


def cmd_import(args: argparse.Namespace) -> int:
    from bot.content import Problem
    from bot.flows.forms.schema import parse_form
    from bot.flows.forms.xlsform import convert

    result = convert(args.file, submit=args.submit)
    for r in result.refused:
        print(f"not imported: {r}", file=sys.stderr)
    if result.form is None:
        print("nothing written", file=sys.stderr)
        return 1
    problems: list[Problem] = []
    parse_form(result.form, str(args.file), problems)
    for p in problems:
        print(str(p), file=sys.stderr)
    if any(p.severity == "error" for p in problems):
        print("nothing written: the converted form is not valid", file=sys.stderr)
        return 1
    if result.refused and not args.partial:
        print(
            f"nothing written: {len(result.refused)} rows or columns cannot be expressed "
            "(listed above); fix them, or pass --partial to write the rest",
            file=sys.stderr,
        )
        return 1
    text = "# Imported from an XLSForm by `python -m bot forms import`; review before use.\n"
    text += yaml.safe_dump(result.form, allow_unicode=True, sort_keys=False, width=100)
    out = Path(args.out) if args.out else None
    if out is None:
        out = _content_root(args) / "forms" / f"{result.form['form']}.yml"
    if str(out) == "-":
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out} ({len(result.form['fields'])} fields)")
    return 1 if result.refused else 0


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("forms", help="form files (content/forms): check, import from XLSForm")
    fs = f.add_subparsers(dest="forms_command", required=True)
    chk = fs.add_parser("check", help="validate the forms and the lists they use")
    chk.add_argument("--dir", help="content folder (default: from config.yml)")
    chk.set_defaults(func=cmd_check)
    imp = fs.add_parser("import", help="turn an XLSForm workbook (.xlsx) into a form file")
    imp.add_argument("file", help="the XLSForm workbook")
    imp.add_argument(
        "--out", help="where to write (default: content/forms/<form_id>.yml; - for stdout)"
    )
    imp.add_argument("--submit", help="the submit handler's name (default: the form_id)")
    imp.add_argument("--dir", help="content folder (default: from config.yml)")
    imp.add_argument(
        "--partial",
        action="store_true",
        help="write what could be imported even if rows were refused",
    )
    imp.set_defaults(func=cmd_import)
