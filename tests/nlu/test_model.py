"""The intent classifier: training, the model file, and numpy-only prediction."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlu.model import FitOptions, IntentModel, ModelError, fit
from nlu.normalize import Normalizer, strip_diacritics
from nlu.rasa_format import load_paths

from .conftest import NLU_DATA, TABLES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model(model_path: Path) -> IntentModel:
    return IntentModel.load(model_path, Normalizer.from_tables(TABLES))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("xin chào bot", "greet"),
        ("cảm ơn bạn nha", "thank"),
        ("tôi muốn gặp cán bộ", "human"),
        ("hủy nhận tin", "unsubscribe"),
        ("đổi ngôn ngữ sang tiếng Hrê", "set_language"),
        ("nhà nước hỗ trợ làm nhà bao nhiêu", "ask_policy"),
        ("gửi báo cáo kết quả giải ngân", "report"),
    ],
)
def test_round_trip_predicts_training_intents(model: IntentModel, text: str, intent: str) -> None:
    assert model.predict(text).intent == intent
    assert model.predict(strip_diacritics(text)).intent == intent  # learnt without diacritics too


def test_probabilities_are_a_distribution(model: IntentModel) -> None:
    pred = model.predict("chào bạn")
    assert 0.0 < pred.confidence <= 1.0
    assert pytest.approx(sum(p for _, p in pred.ranking), abs=1e-5) == 1.0
    assert [p for _, p in pred.ranking] == sorted((p for _, p in pred.ranking), reverse=True)
    assert pred.known == 1.0
    assert model.predict("qzxw vbnm").known == 0.0


def test_model_file_is_plain_arrays(model_path: Path, model: IntentModel) -> None:
    with np.load(model_path, allow_pickle=False) as z:
        assert set(z.files) == {"header", "labels", "hashes", "idf", "weights", "bias"}
        assert z["weights"].dtype == np.float32
        assert z["weights"].shape == (len(z["hashes"]), len(z["labels"]))
        assert np.all(np.diff(z["hashes"].astype(np.int64)) > 0)  # sorted, unique
        header = json.loads(str(z["header"]))
    assert header["tables_hash"] == Normalizer.from_tables(TABLES).hash
    assert header["synonyms"]["thẻ bảo hiểm"] == "bảo hiểm y tế"
    assert any("lk:product" in names for _, names in header["gazetteer"]["phrases"])
    assert model.labels == tuple(sorted(model.labels))


def test_save_load_predicts_the_same(tmp_path: Path, model: IntentModel) -> None:
    model.save(tmp_path / "copy.npz")
    again = IntentModel.load(tmp_path / "copy.npz", Normalizer.from_tables(TABLES))
    for text in ["xin chao", "du an 2 la gi", "đăng ký nhận tin"]:
        a, b = again.predict(text), model.predict(text)
        assert [n for n, _ in a.ranking] == [n for n, _ in b.ranking]
        assert [p for _, p in a.ranking] == pytest.approx([p for _, p in b.ranking])


def test_lookup_and_regex_become_features() -> None:
    data = load_paths([NLU_DATA])
    m = fit(data, Normalizer.from_tables(TABLES))
    assert "lk:product" in m.gazetteer.matches(m.normalizer("mua quế trà bồng"))
    assert "lk:product" in m.gazetteer.matches(m.normalizer("mua que tra bong"))
    assert "re:phone" in m.gazetteer.matches(m.normalizer("gọi 0912345678"))
    assert "ent:project" in m.gazetteer.matches(m.normalizer("dự án 2 thế nào"))


def test_feature_budget_caps_the_file(tmp_path: Path) -> None:
    data = load_paths([NLU_DATA])
    small = fit(data, Normalizer.from_tables(TABLES), FitOptions(budget_bytes=200 * (4 * 15 + 8)))
    assert len(small.hashes) == 200
    assert small.predict("xin chào").intent == "greet"


def test_missing_or_foreign_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="nlu train"):
        IntentModel.load(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", header=np.array(json.dumps({"format": 99})))
    with pytest.raises(ModelError, match="format 99"):
        IntentModel.load(tmp_path / "other.npz")


def test_runtime_imports_neither_sklearn_nor_scipy(model_path: Path) -> None:
    code = (
        "import sys\n"
        "from bot.content import load_content\n"
        "from nlu.engine import BuiltinEngine\n"
        f"items = load_content({str(ROOT / 'tests/nlu/data/content')!r}).items\n"
        f"e = BuiltinEngine.load({str(model_path)!r}, items, tables_dir={str(TABLES)!r})\n"
        "r = e.parse_sync('du an 9 la gi')\n"
        "assert r.answer_id == 'policy.project_9', r\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_typo_augmentation() -> None:
    import random

    from nlu.model import with_typo

    rng = random.Random(3)
    for text in ["hỗ trợ làm nhà bao nhiêu", "đăng ký nhận tin"]:
        slipped = with_typo(text, rng)
        changed = [(a, b) for a, b in zip(text.split(), slipped.split(), strict=True) if a != b]
        assert len(changed) == 1
    assert with_typo("a b", rng) == "a b"  # no word long enough to slip on
    data = load_paths([NLU_DATA])
    assert fit(data, Normalizer.from_tables(TABLES)).meta["options"]["augment_typos"] == 2
    none = fit(data, Normalizer.from_tables(TABLES), FitOptions(augment_typos=0))
    assert none.meta["rows"] < fit(data, Normalizer.from_tables(TABLES)).meta["rows"]


def test_typed_with_a_slip(model: IntentModel) -> None:
    assert model.predict("tôi muôn gặp cná bộ").intent == "human"
    assert model.predict("huy nhan tni").intent == "unsubscribe"
