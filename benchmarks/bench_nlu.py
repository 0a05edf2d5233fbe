"""Built-in NLU: training time, model size and per-message latency, against in-process baselines.

Trains on nlu/data (and once on a generated 5,000-example Rasa file, the size of a public intent
dataset), then times `BuiltinEngine.parse_sync` on typical messages. Latency percentiles are taken
per repeat and the median over repeats is reported, beside two baselines measured the same way in
the same process: normalisation alone (what every message pays before any model) and a dict lookup
(the floor of a Python call). Prints a markdown table, then a JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.content import load_content  # noqa: E402
from nlu.engine import BuiltinEngine, train  # noqa: E402
from nlu.normalize import Normalizer  # noqa: E402
from tests.nlu import synthetic  # noqa: E402

MESSAGES = [
    "chào bạn nhé",
    "ho tro lam nha cho ho ngheo duoc bao nhieu",
    "dự án 4 làm chi rứa",
    "quế trà bồng",
    "tôi muốn gặp cán bộ xã",
    "k nhận tin nữa",
    "thẻ bhyt cho người dtts",
    "đường vô thôn bị sạt lở",
    "cảm ơn nha",
    "hôm nay trời mưa không",
    "asdkjh qwe",
    "muốn học nghề may thì đăng ký ở mô",
]
REPEATS = 7
CALLS = 1500


def timed(fn: Callable[[str], object]) -> dict[str, float]:
    """Median over repeats of the p50 and p99 latency (ms) of `fn` over the messages."""
    p50s, p99s = [], []
    for _ in range(REPEATS):
        samples = np.empty(CALLS)
        for i in range(CALLS):
            text = MESSAGES[i % len(MESSAGES)]
            t0 = time.perf_counter()
            fn(text)
            samples[i] = time.perf_counter() - t0
        p50s.append(float(np.percentile(samples, 50)) * 1e3)
        p99s.append(float(np.percentile(samples, 99)) * 1e3)
    return {
        "p50_ms": round(statistics.median(p50s), 4),
        "p99_ms": round(statistics.median(p99s), 4),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = tmp_path / "model.npz"
        train_runs = []
        for _ in range(3):
            report = train([ROOT / "nlu" / "data"], model)
            train_runs.append(report.seconds)
        big = synthetic.write(tmp_path / "big.yml", n_examples=5000, n_intents=30)
        big_report = train([big], tmp_path / "big.npz")

        content = load_content(ROOT / "content")
        engine = BuiltinEngine.load(model, content.items)
        normalizer = Normalizer.from_tables()
        table = {m: m for m in MESSAGES}
        for text in MESSAGES:  # warm caches the way a running bot has them
            engine.parse_sync(text)

        latency = {
            "engine.parse_sync": timed(engine.parse_sync),
            "classifier only": timed(lambda t: engine.model.predict_norm(normalizer(t))),
            "retrieval only": timed(lambda t: engine.retriever.rank(normalizer(t), 5)),
            "baseline: normalisation only": timed(normalizer),
            "baseline: dict lookup": timed(table.get),
        }

    result = {
        "train_s_median_of_3": round(statistics.median(train_runs), 2),
        "train_examples": report.examples,
        "intents": len(report.intents),
        "features": report.features,
        "model_mb": round(report.size_bytes / 1e6, 2),
        "train_5000_s": big_report.seconds,
        "model_5000_mb": round(big_report.size_bytes / 1e6, 2),
        "content_items": len(content.items),
        "latency": latency,
        "repeats": REPEATS,
        "calls_per_repeat": CALLS,
    }
    print("| measure | value |")
    print("|---|---|")
    print(
        f"| training on nlu/data ({report.examples} examples, {len(report.intents)} intents), "
        f"median of 3 | {result['train_s_median_of_3']} s |"
    )
    print(f"| model file (nlu/data) | {result['model_mb']} MB, {report.features} features |")
    print(
        "| training on a generated 5,000-example Rasa file (30 intents) | "
        f"{big_report.seconds} s, {result['model_5000_mb']} MB |"
    )
    print()
    print(
        f"| per message ({len(content.items)} content items; "
        f"median over {REPEATS} repeats of {CALLS} calls) | p50 | p99 |"
    )
    print("|---|---|---|")
    for name, v in latency.items():
        print(f"| {name} | {v['p50_ms']:.3f} ms | {v['p99_ms']:.3f} ms |")
    print()
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
