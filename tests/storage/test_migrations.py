"""The head revision the serving process reads from the migration files (without Alembic) is
Alembic's own; and `bot run` does not load Alembic (11 MB of its memory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.storage.db import alembic_config, head_revision

ROOT = Path(__file__).resolve().parents[2]


def test_head_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    expected = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert expected is not None
    assert head_revision() == expected


def _write(d: Path, name: str, revision: str, down: str) -> None:
    (d / f"{name}.py").write_text(
        f'"""{name}"""\n\nrevision = "{revision}"\ndown_revision{down}\n\n\ndef upgrade():\n'
        "    pass\n",
        encoding="utf-8",
    )


def test_a_merge_has_one_head_and_a_branch_two(tmp_path: Path) -> None:
    _write(tmp_path, "a", "a", " = None")
    _write(tmp_path, "b", "b", ' = "a"')
    _write(tmp_path, "c", "c", ': str = "a"')  # annotated, as newer templates write it
    assert pytest.raises(RuntimeError, head_revision, tmp_path).match("more than one head: b, c")
    _write(tmp_path, "d", "d", ' = ("b", "c")')
    assert head_revision(tmp_path) == "d"


def test_no_migrations_no_head(tmp_path: Path) -> None:
    assert head_revision(tmp_path) is None


def test_the_start_check_passes_without_importing_alembic(tmp_path: Path) -> None:
    from bot.storage.db import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    upgrade(url)
    code = (
        "import os, sys\n"
        "from bot.__main__ import _check_schema\n"
        "from bot.config import load_settings\n"
        "import bot.app\n"
        "_check_schema(load_settings('config.yml'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    env = {**os.environ, "DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_start_check_refuses_a_database_behind_the_code(tmp_path: Path) -> None:
    from bot.__main__ import _check_schema
    from bot.config import ConfigError, load_settings
    from bot.storage.db import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    upgrade(url, "0001")
    settings = load_settings(ROOT / "config.yml", env={"DATABASE_URL": url})
    with pytest.raises(
        ConfigError, match=f"the schema is at 0001, the code needs {head_revision()}"
    ):
        _check_schema(settings)
    empty = load_settings(
        ROOT / "config.yml", env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/empty.db"}
    )
    with pytest.raises(ConfigError, match="the schema is at nothing"):
        _check_schema(empty)
