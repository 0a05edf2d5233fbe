"""The intent classifier: trained with scikit-learn, run with numpy alone.

`fit` reads `TrainingData`, featurises every example (`nlu.features`), trains a multinomial logistic
regression and returns an `IntentModel`, which `save`s itself as one `.npz` file: the sorted feature
hashes, their idf, a float32 weight matrix, intercepts, labels, and a JSON header (feature settings,
synonyms, gazetteer, the normalisation tables' hash). `IntentModel.load` and `predict` need only
numpy, so the running bot never imports scikit-learn or scipy (they are imported inside `fit`).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlu.features import (
    CHAR,
    EXTRA,
    WORD,
    FeatureSpec,
    Gazetteer,
    folded_word_hashes,
    hashed_counts,
)
from nlu.normalize import Normalized, Normalizer, strip_diacritics
from nlu.rasa_format import TrainingData

FORMAT_VERSION = 1
MODEL_BUDGET_BYTES = 16 * 1024 * 1024  # keeps the file well under 20 MB whatever the data


class ModelError(RuntimeError):
    """A model file that is missing, unreadable or of another format."""


@dataclass(frozen=True)
class Prediction:
    intent: str
    confidence: float
    known: float  # share of the message's words the model saw in training (0..1)
    ranking: tuple[tuple[str, float], ...]  # all intents, most likely first


@dataclass
class IntentModel:
    """A trained linear intent classifier over hashed features (numpy only at runtime)."""

    labels: tuple[str, ...]
    hashes: np.ndarray  # uint32, sorted
    idf: np.ndarray  # float32, one per hash
    weights: np.ndarray  # float32 [n_features, n_labels]
    bias: np.ndarray  # float32 [n_labels]
    spec: FeatureSpec
    normalizer: Normalizer
    gazetteer: Gazetteer
    meta: dict = field(default_factory=dict)

    # -- runtime -----------------------------------------------------------------------------

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(self.hashes, keys)
        pos[pos >= len(self.hashes)] = 0
        found = self.hashes[pos] == keys
        return pos, found

    def vector(self, norm: Normalized) -> tuple[np.ndarray, np.ndarray]:
        """(feature rows, values) of a message: the model's sparse input."""
        return self._vector(hashed_counts(norm, self.spec, self.gazetteer))

    def _vector(self, groups: tuple[Counter[int], ...]) -> tuple[np.ndarray, np.ndarray]:
        rows: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for group, counts in enumerate(groups):
            if not counts or not len(self.hashes):
                continue
            keys = np.fromiter(counts.keys(), dtype=np.uint32, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            pos, found = self._lookup(keys)
            pos = pos[found]
            v = (1.0 + np.log(tf[found])) * self.idf[pos]
            n = float(np.sqrt(np.dot(v, v)))
            if n > 0:
                rows.append(pos)
                vals.append(v * (self.spec.group_weights[group] / n))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(rows), np.concatenate(vals)

    def known_share(self, norm: Normalized) -> float:
        if not norm.folded or not len(self.hashes):
            return 0.0
        keys = np.array(folded_word_hashes(norm), dtype=np.uint32)
        return float(self._lookup(keys)[1].mean())

    def scores(self, norm: Normalized) -> np.ndarray:
        rows, vals = self.vector(norm)
        z = self.bias.astype(np.float64)
        if len(rows):
            z = z + vals @ self.weights[rows]
        z = np.exp(z - z.max())
        return z / z.sum()

    def predict_norm(self, norm: Normalized) -> Prediction:
        p = self.scores(norm)
        order = np.argsort(-p)
        ranking = tuple((self.labels[i], float(p[i])) for i in order)
        return Prediction(ranking[0][0], ranking[0][1], self.known_share(norm), ranking)

    def predict(self, text: str) -> Prediction:
        return self.predict_norm(self.normalizer(text))

    # -- files -------------------------------------------------------------------------------

    def save(self, path: str | Path) -> int:
        """Write the model as one .npz file (written aside, then renamed); returns its size in
        bytes."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT_VERSION,
            "spec": self.spec.to_json(),
            "gazetteer": self.gazetteer.to_json(),
            "synonyms": self.normalizer.synonyms,
            "tables_hash": self.normalizer.hash,
            "meta": self.meta,
        }
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            header=np.array(json.dumps(header, ensure_ascii=False)),
            labels=np.array(self.labels, dtype=str),
            hashes=self.hashes.astype(np.uint32),
            idf=self.idf.astype(np.float32),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
        )
        tmp.replace(path)
        return path.stat().st_size

    @classmethod
    def load(cls, path: str | Path, normalizer: Normalizer | None = None) -> IntentModel:
        """Read a model file. `normalizer` (the current tables) gets the model's synonyms added."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(
                f"NLU model file {path} not found; train it with `python -m bot nlu train`"
            )
        retrain = "retrain it with `python -m bot nlu train`"
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                if header.get("format") != FORMAT_VERSION:
                    raise ModelError(
                        f"NLU model file {path} has format {header.get('format')}, "
                        f"expected {FORMAT_VERSION}; {retrain}"
                    )
                arrays = {k: z[k] for k in ("labels", "hashes", "idf", "weights", "bias")}
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"NLU model file {path} is unreadable ({exc}); {retrain}") from exc
        base = normalizer or Normalizer.from_tables()
        return cls(
            labels=tuple(str(x) for x in arrays["labels"]),
            hashes=arrays["hashes"],
            idf=arrays["idf"],
            weights=np.ascontiguousarray(arrays["weights"]),
            bias=arrays["bias"],
            spec=FeatureSpec.from_json(header["spec"]),
            normalizer=base.with_synonyms(header.get("synonyms") or {}),
            gazetteer=Gazetteer.from_json(header.get("gazetteer") or {}),
            meta={**header.get("meta", {}), "tables_hash": header.get("tables_hash")},
        )

    @property
    def tables_current(self) -> bool:
        """False when the normalisation tables changed since training (retraining is advised)."""
        return self.meta.get("tables_hash") in (None, self.normalizer.hash)


# -- training --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitOptions:
    C: float = 20.0
    class_weight: str | None = "balanced"
    augment_stripped: bool = True  # also learn each example as typed without diacritics
    # Copies of each example with one slip of the finger (a letter dropped, swapped or replaced).
    # None: `typo_copies(n)`, 2 per example up to 2,000 examples, then fewer as the data grows
    # (a fraction is drawn per example), never a switch from 2 to 0 at one size.
    augment_typos: float | None = None
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    budget_bytes: int = MODEL_BUDGET_BYTES
    min_df: int | None = None  # examples a feature must appear in; default 1, or 2 from 2,000 rows
    max_iter: int = 300
    solver: str = "lbfgs"
    tol: float = 1e-4


_KEYS = "abcdeghiklmnopqrstuvxy"
TYPO_COPIES = 2.0
TYPO_FULL_UNTIL = 2000  # examples


def typo_copies(n_examples: int) -> float:
    """Typo copies per example for data of `n_examples`: 2 up to 2,000, then 2 * 2000 / n, so
    the augmented rows grow smoothly and stop growing (4,000 typo rows at most)."""
    if n_examples <= TYPO_FULL_UNTIL:
        return TYPO_COPIES
    return TYPO_COPIES * TYPO_FULL_UNTIL / n_examples


def with_typo(text: str, rng: random.Random) -> str:
    """`text` with one typing slip in one word of three letters or more: a letter dropped,
    two swapped, or one replaced."""
    words = text.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(len(w) - 1)
    op = rng.randrange(3)
    if op == 0:
        w = w[:j] + w[j + 1 :]
    elif op == 1:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    else:
        w = w[:j] + rng.choice(_KEYS) + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def fit(
    data: TrainingData, normalizer: Normalizer | None = None, options: FitOptions | None = None
) -> IntentModel:
    """Train an `IntentModel` on `data` (imports scikit-learn and scipy here, not at runtime)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    opts = options or FitOptions()
    started = time.perf_counter()
    normalizer = (normalizer or Normalizer.from_tables()).with_synonyms(data.synonyms)
    gazetteer = Gazetteer.build(normalizer, data.lookups, data.entity_values(), data.regexes)
    spec = opts.spec

    texts: list[str] = []
    intents: list[str] = []
    rng = random.Random(0)
    typos = (
        float(opts.augment_typos)
        if opts.augment_typos is not None
        else typo_copies(len(data.examples))
    )
    whole, part = int(typos), typos - int(typos)
    for ex in data.examples:
        texts.append(ex.text)
        intents.append(ex.intent)
        if opts.augment_stripped:
            stripped = strip_diacritics(ex.text)
            if stripped != ex.text:
                texts.append(stripped)
                intents.append(ex.intent)
        for _ in range(whole + (1 if part and rng.random() < part else 0)):
            texts.append(
                with_typo(strip_diacritics(ex.text) if rng.random() < 0.5 else ex.text, rng)
            )
            intents.append(ex.intent)
    labels = tuple(sorted(set(intents)))
    if not labels:
        raise ValueError("no examples to train on")
    label_index = {lab: i for i, lab in enumerate(labels)}
    y = np.array([label_index[i] for i in intents])

    per_example = [hashed_counts(normalizer(t), spec, gazetteer) for t in texts]

    df: Counter[int] = Counter()
    group_of: dict[int, int] = {}
    for groups in per_example:
        for g, counts in enumerate(groups):
            df.update(counts.keys())
            for h in counts:
                group_of.setdefault(h, g)
    n_labels = max(len(labels), 2)
    max_features = max(1, opts.budget_bytes // (4 * n_labels + 8))
    n_seen = len(df)
    min_df = opts.min_df if opts.min_df is not None else (1 if len(texts) < 2000 else 2)
    if min_df > 1:
        # On large data a feature seen in one example is mostly noise (a name, a typo) and slows
        # training.
        df = Counter({h: c for h, c in df.items() if c >= min_df})
    if len(df) > max_features:
        # Keep the features most examples share; words and extras before character n-grams on ties.
        ranked = sorted(df.items(), key=lambda kv: (-kv[1], group_of[kv[0]] == CHAR, kv[0]))
        vocab = np.array(sorted(h for h, _ in ranked[:max_features]), dtype=np.uint32)
    else:
        vocab = np.array(sorted(df), dtype=np.uint32)
    n = len(texts)
    idf = np.array([math.log((1 + n) / (1 + df[int(h)])) + 1.0 for h in vocab], dtype=np.float32)

    model = IntentModel(
        labels=labels,
        hashes=vocab,
        idf=idf,
        weights=np.zeros((len(vocab), len(labels)), dtype=np.float32),
        bias=np.zeros(len(labels), dtype=np.float32),
        spec=spec,
        normalizer=normalizer,
        gazetteer=gazetteer,
    )

    indptr = [0]
    indices: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for groups in per_example:
        rows, vals = model._vector(groups)
        indices.append(rows)
        values.append(vals)
        indptr.append(indptr[-1] + len(rows))
    X = sparse.csr_matrix(
        (
            np.concatenate(values) if values else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.array(indptr),
        ),
        shape=(n, len(vocab)),
        dtype=np.float64,
    )

    if len(labels) == 1:
        model.bias[:] = 0.0
    else:
        clf = LogisticRegression(
            C=opts.C,
            class_weight=opts.class_weight,
            max_iter=opts.max_iter,
            tol=opts.tol,
            solver=opts.solver,
        )
        # One BLAS thread: L-BFGS's many small vector operations run slower when spread over
        # threads.
        with threadpool_limits(1):
            clf.fit(X, y)
        coef = clf.coef_.astype(np.float32)
        bias = clf.intercept_.astype(np.float32)
        if coef.shape[0] == 1:  # two classes: sklearn gives one row for the second class
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            bias = np.array([-bias[0] / 2, bias[0] / 2], dtype=np.float32)
        model.weights = np.ascontiguousarray(coef.T)
        model.bias = bias
    model.meta = {
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "examples": len(data.examples),
        "rows": n,
        "intents": data.counts(),
        "features": int(len(vocab)),
        "features_seen": n_seen,
        "seconds": round(time.perf_counter() - started, 3),
        "options": {
            "C": opts.C,
            "class_weight": opts.class_weight,
            "augment_stripped": opts.augment_stripped,
            "augment_typos": round(typos, 4),
        },
        "groups": {
            name: int(sum(1 for h in vocab if group_of[int(h)] == g))
            for g, name in ((WORD, "word"), (CHAR, "char"), (EXTRA, "extra"))
        },
    }
    return model
