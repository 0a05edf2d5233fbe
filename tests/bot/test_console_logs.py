"""`python -m bot chat` shows the conversation, not log lines: logs go to var/logs/bot.log, and
only warnings to the terminal, unless asked for (`--log-level INFO` or LOG_LEVEL)."""

from __future__ import annotations

import os

from tests.bot.test_cli import run


def chat(tmp_path, *options: str, env: dict | None = None):
    base = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", "LOG_DIR": str(tmp_path)}
    assert run(["db", "upgrade"], env=base).returncode == 0
    full = {k: v for k, v in os.environ.items() if k != "LOG_LEVEL"} | base | (env or {})
    return run([*options, "chat", "--lang", "vi"], "xin chào\n", env=full)


def test_the_console_shows_the_conversation_not_info_lines(tmp_path, nlu_model, monkeypatch):
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    proc = chat(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "bot> " in proc.stdout
    assert " INFO " not in proc.stderr and " INFO " not in proc.stdout, proc.stderr
    # The log is kept, in the file.
    assert " INFO bot.pipeline" in (tmp_path / "bot.log").read_text(encoding="utf-8")


def test_info_lines_on_the_terminal_when_asked(tmp_path, nlu_model, monkeypatch):
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    assert " INFO bot.pipeline" in chat(tmp_path, "--log-level", "INFO").stderr
    assert " INFO bot.pipeline" in chat(tmp_path, env={"LOG_LEVEL": "INFO"}).stderr
