"""The command line as a user runs it: ask (the evaluation contract), chat, db upgrade, content
check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(
    args: list[str], stdin: str = "", env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=timeout,
    )


def test_ask_follows_the_contract(nlu_model):
    lines = [
        json.dumps(
            {"text": "hỗ trợ nước sinh hoạt cho hộ dân bao nhiêu", "lang": "vi"}, ensure_ascii=False
        ),
        "chào bạn nha",  # a plain line means lang vi
        json.dumps({"text": "que tra bong", "lang": "cua"}),
        json.dumps({"text": "đăng ký nhận tin tức", "lang": "sed"}, ensure_ascii=False),
    ]
    proc = run(["ask"], "\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 4
    for o in out:
        assert set(o) == {"intent", "confidence", "answer_id", "replies"}
        assert isinstance(o["intent"], str) and isinstance(o["confidence"], float)
        assert all(isinstance(r, str) for r in o["replies"])
    assert out[0]["intent"] == "ask_policy" and "3 triệu" in " ".join(out[0]["replies"])
    assert out[0]["answer_id"]
    assert out[1]["intent"] == "greet" and out[1]["answer_id"] is None
    assert out[2]["intent"] == "ask_product" and "Trà Bồng" in " ".join(out[2]["replies"])
    # Each line is a fresh user who already chose a language: no language prompt.
    assert not any("chọn ngôn ngữ" in r for o in out for r in o["replies"])


def test_chat_on_the_console(tmp_path, nlu_model):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"}
    assert run(["db", "upgrade"], env=env).returncode == 0
    proc = run(
        ["chat"], "xin chào\n1\nhỗ trợ chuyển đổi nghề bao nhiêu tiền\n/subscribe\n1\n", env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "1. Tiếng Việt" in out and "2. Hrê" in out  # buttons degrade to numbered options
    assert "Đã chọn ngôn ngữ: Tiếng Việt" in out
    assert "10 triệu" in out
    assert "Bạn có đồng ý không?" in out and "Đã đăng ký" in out


def test_run_refuses_a_database_behind_the_migrations(tmp_path, nlu_model):
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"}
    proc = run(["run", "--no-console"], env=env, timeout=30)
    assert proc.returncode == 2
    assert "python -m bot db upgrade" in proc.stderr


def test_bad_config_stops_with_the_key_named(tmp_path):
    proc = run(["run", "--no-console"], env={"BOT_PORT": "http"}, timeout=30)
    assert proc.returncode == 2
    assert "server.port" in proc.stderr


def test_content_check_passes_on_the_shipped_content():
    proc = run(["content", "check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "translation coverage" in proc.stdout
    for lang in ("vi", "hre", "cua", "sed"):
        assert f"  {lang} " in proc.stdout


def _write_items(folder: Path, items: list[dict]) -> None:
    (folder / "items").mkdir(parents=True, exist_ok=True)
    (folder / "items" / "x.yml").write_text(
        yaml.safe_dump({"items": items}, allow_unicode=True), encoding="utf-8"
    )


GOOD = {
    "id": "a.one",
    "intent": "ask_policy",
    "title": {"vi": "Một"},
    "questions": ["câu hỏi một", "hỏi một"],
    "answer": {"vi": "Trả lời."},
    "source": "Quyết định 1719/QĐ-TTg",
    "reviewed": "2026-01-02",
}


@pytest.mark.parametrize(
    ("label", "items", "expected"),
    [
        ("missing source", [{**GOOD, "source": ""}], "`source` is required"),
        ("bad date", [{**GOOD, "reviewed": "02/01/2026"}], "`reviewed` must be a date"),
        ("future date", [{**GOOD, "reviewed": "2999-01-01"}], "in the future"),
        ("unknown intent", [{**GOOD, "intent": "weather"}], "`intent` must be one of"),
        ("no vietnamese", [{**GOOD, "answer": {"hre": "x"}}], "`answer.vi` is required"),
        ("unknown field", [{**GOOD, "anwser": "x"}], "unknown field `anwser`"),
        (
            "duplicate id",
            [GOOD, {**GOOD, "questions": ["khác hẳn", "khác nữa"]}],
            "id already used",
        ),
        (
            "question in two items",
            [GOOD, {**GOOD, "id": "a.two", "questions": ["Câu hỏi MỘT", "hai"]}],
            "appears in more than one item",
        ),
        (
            "missing media file",
            [{**GOOD, "media": {"hre": {"voice": "media/nope.ogg"}}}],
            "not found under content/",
        ),
    ],
)
def test_content_check_rejects_broken_files(tmp_path, label, items, expected):
    _write_items(tmp_path, items)
    proc = run(["content", "check", "--dir", str(tmp_path)])
    assert proc.returncode == 1, label
    assert expected in proc.stdout, (label, proc.stdout)


def test_content_check_reports_yaml_syntax_errors_with_the_line(tmp_path):
    (tmp_path / "items").mkdir()
    (tmp_path / "items" / "bad.yml").write_text(
        "items:\n  - id: a\n    intent: [\n", encoding="utf-8"
    )
    proc = run(["content", "check", "--dir", str(tmp_path)])
    assert proc.returncode == 1
    assert "bad.yml" in proc.stdout and "line" in proc.stdout


def test_ask_lines_of_one_session_are_one_conversation(nlu_model):
    lines = [
        json.dumps({"text": "hỗ trợ làm nhà", "session": "a"}, ensure_ascii=False),
        json.dumps({"text": "bao nhiêu", "session": "b"}, ensure_ascii=False),
        json.dumps({"text": "bao nhiêu", "session": "a"}, ensure_ascii=False),
        json.dumps({"text": "bao nhiêu"}, ensure_ascii=False),
    ]
    proc = run(["ask"], "\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0]["answer_id"] == "support.housing"
    # Session "a" asked about housing before: "bao nhiêu" is read against it. Session "b" and a
    # line without a session are fresh users with nothing to follow up on.
    assert out[2]["answer_id"] == "support.housing" and "40 triệu" in " ".join(out[2]["replies"])
    assert out[1]["answer_id"] is None and out[3]["answer_id"] is None
