"""A Rasa file of public-dataset size (5,000 examples, 30 intents) trains into a compact model.

How long training takes is measured in benchmarks/bench_nlu.py; this test checks that it works at
this size and that the result stays within the model-size bound.
"""

from __future__ import annotations

from pathlib import Path

from nlu.engine import train
from nlu.model import IntentModel
from nlu.rasa_format import load_paths

from . import synthetic


def test_five_thousand_examples_train(tmp_path: Path) -> None:
    data_file = synthetic.write(tmp_path / "big.yml", n_examples=5000, n_intents=30)
    out = tmp_path / "model.npz"
    report = train([data_file], out)
    assert report.examples >= 4950
    assert len(report.intents) == 30
    assert report.size_bytes < 20 * 1024 * 1024
    model = IntentModel.load(out)
    data = load_paths([data_file])
    sample = data.examples[::25]
    right = sum(model.predict(e.text).intent == e.intent for e in sample)
    assert right / len(sample) > 0.95
    assert {e.intent for e in sample} >= {
        "faq/ask_topic_00",
        "intent_01",
    }  # retrieval-intent names kept
