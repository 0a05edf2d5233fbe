"""The tree stays as `make lint` wants it: ruff's rules (line limit included) and its format."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ["bot", "nlu", "actions", "tests", "benchmarks"]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *TREE], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_passes() -> None:
    result = ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout[-3000:]


def test_ruff_format_leaves_the_tree_unchanged() -> None:
    result = ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, result.stdout[-3000:]
