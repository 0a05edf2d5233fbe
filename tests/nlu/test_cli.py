"""`python -m nlu` / `python -m bot nlu`: train, predict, test, eval."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.content import load_items
from nlu.cli import main
from nlu.evaluate import expectations_met, intent_report, stratified_folds

from .conftest import CONTENT, DATA, NLU_DATA, TABLES

ROOT = Path(__file__).resolve().parents[2]
T = ["--tables", str(TABLES)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "m.npz"
    assert main(["train", "--data", str(NLU_DATA), "--out", str(out), *T]) == 0
    return out


def test_train_writes_the_model(trained: Path, capsys) -> None:
    assert trained.is_file()
    out = tmp = trained.with_name("again.npz")
    assert (
        main(
            [
                "train",
                "--data",
                str(NLU_DATA / "smalltalk.yml"),
                str(NLU_DATA / "services.yml"),
                "--out",
                str(tmp),
                *T,
            ]
        )
        == 0
    )
    assert "examples, 12 intents" in capsys.readouterr().out
    assert out.is_file()


def test_train_reports_bad_data(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nlu:\n- intent: x\n  examples: |\n    - a\n  - b: [\n", encoding="utf-8")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m.npz"), *T]) == 2
    assert "bad.yml:" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_predict_json_lines(trained: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.StringIO('{"text": "xin chào"}\n\n{"text": "hủy nhận tin"}\n')
    )
    assert main(["predict", "--model", str(trained), *T]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["text"], r["intent"]) for r in rows] == [
        ("xin chào", "greet"),
        ("hủy nhận tin", "unsubscribe"),
    ]
    assert all(
        set(r) == {"text", "intent", "confidence"} and 0 < r["confidence"] <= 1 for r in rows
    )


def test_predict_with_content_adds_the_answer(trained: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"text": "du an 9"}\n'))
    argv = ["predict", "--model", str(trained), "--content", str(CONTENT), *T]
    assert main(argv, load_documents=load_items) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["answer_id"] == "policy.project_9"


def test_predict_rejects_non_json(trained: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("xin chào\n"))
    assert main(["predict", "--model", str(trained), *T]) == 2
    assert "line 1" in capsys.readouterr().err


def test_test_cross_validates_and_prints_a_table(capsys) -> None:
    assert main(["test", "--data", str(NLU_DATA), "--folds", "3", *T]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation" in out
    assert "precision  recall     f1  support" in out
    assert "greet" in out and "accuracy" in out


def test_test_json_with_a_model(trained: Path, capsys) -> None:
    assert main(["test", "--data", str(NLU_DATA), "--model", str(trained), "--json", *T]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] > 0.9  # its own training data
    assert set(report["intents"]["greet"]) == {"precision", "recall", "f1", "support"}
    assert (
        {"true", "predicted", "count"} <= set(report["confused"][0]) if report["confused"] else True
    )


def test_eval_scores_cases(trained: Path, capsys) -> None:
    assert (
        main(
            [
                "eval",
                str(DATA / "cases.yml"),
                "--model",
                str(trained),
                "--content",
                str(CONTENT),
                "--json",
                "--errors",
                *T,
            ],
            load_documents=load_items,
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == 7 and summary["answer_cases"] == 5
    assert summary["intent_accuracy"] == 1.0
    assert summary["answer_accuracy"] == pytest.approx(
        4 / 5
    )  # the last case expects text no answer has
    assert [f["text"] for f in summary["failed"]] == ["dự án 2"]


def test_missing_model_exit_code(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "eval",
                str(DATA / "cases.yml"),
                "--model",
                str(tmp_path / "none.npz"),
                "--content",
                str(CONTENT),
            ],
            load_documents=load_items,
        )
        == 2
    )
    assert "nlu train" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_content_commands_need_a_loader(trained: Path, capsys, command: str) -> None:
    """`nlu` reads no content itself: alone (`python -m nlu`) it says where these commands run."""
    first = [str(DATA / "cases.yml")] if command == "eval" else []
    argv = [command, *first, "--model", str(trained), "--content", str(CONTENT), *T]
    assert main(argv) == 2
    assert f"python -m bot nlu {command}" in capsys.readouterr().err


def test_the_bot_gives_its_content_loader() -> None:
    from bot.__main__ import build_parser

    for argv in (["nlu", "eval", "cases.yml"], ["nlu", "predict", "--content", "content"]):
        assert build_parser().parse_args(argv).load_documents is load_items


def test_module_entry_point(trained: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nlu", "predict", "--model", str(trained), *T],
        input='{"text": "cảm ơn"}\n',
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(done.stdout)["intent"] == "thank"


def test_report_figures() -> None:
    r = intent_report(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert r["accuracy"] == 0.75
    assert r["intents"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert r["intents"]["b"]["precision"] == pytest.approx(2 / 3)
    assert r["confused"] == [{"true": "a", "predicted": "b", "count": 1}]


def test_folds_are_stratified() -> None:
    folds = stratified_folds(["x"] * 10 + ["y"] * 5, 5)
    assert sorted(
        f for f, lab in zip(folds, ["x"] * 10 + ["y"] * 5, strict=True) if lab == "y"
    ) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("expect", "reply", "ok"),
    [
        (["40 triệu"], "Hỗ trợ 40  TRIEU đồng", True),
        (["UBND xã|trưởng thôn"], "báo với truong thon", True),
        (["18", "20"], "nữ 18 tuổi", False),
    ],
)
def test_expectations(expect: list[str], reply: str, ok: bool) -> None:
    assert expectations_met(expect, reply) is ok
