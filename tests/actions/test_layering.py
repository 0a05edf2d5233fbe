"""The layers: actions use repositories, never SQL; core and flows never import `actions`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_actions_run_no_sql_themselves():
    for path in sorted((ROOT / "actions").glob("*.py")):
        modules = imported(path)
        assert not any(m.startswith("sqlalchemy") for m in modules), path.name
        assert "bot.storage.dialect" not in modules, path.name
        assert "session.execute" not in path.read_text(encoding="utf-8"), path.name


def test_core_and_flows_do_not_import_the_actions_above_them():
    for folder in ("bot/core", "bot/flows"):
        for path in sorted((ROOT / folder).glob("*.py")):
            modules = imported(path)
            assert not any(m == "actions" or m.startswith("actions.") for m in modules), path
