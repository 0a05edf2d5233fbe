"""Fixtures for the NLU tests: small Rasa files, tables and content under tests/nlu/data/.

The fixtures are written for these tests (never copied from the evaluation set), so the tests do
not change meaning when the real training data under nlu/data/ grows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content import Content, load_content
from nlu.engine import BuiltinEngine, train
from nlu.normalize import Normalizer

DATA = Path(__file__).resolve().parent / "data"
TABLES = DATA / "tables"
NLU_DATA = DATA / "nlu"
CONTENT = DATA / "content"


@pytest.fixture(scope="session")
def normalizer() -> Normalizer:
    return Normalizer.from_tables(TABLES)


@pytest.fixture(scope="session")
def content() -> Content:
    c = load_content(CONTENT)
    assert not c.errors, c.errors
    return c


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nlu") / "model.npz"
    train([NLU_DATA], out, tables_dir=TABLES)
    return out


@pytest.fixture(scope="session")
def engine(model_path: Path, content: Content) -> BuiltinEngine:
    return BuiltinEngine.load(model_path, content.items, tables_dir=TABLES)
