"""Turning a normalised message into hashed sparse features for the intent classifier.

The same code runs when training (with scikit-learn) and at runtime (numpy only), so a message is
featurised identically in both. A feature is a short string ("f:ho", "w2:hỗ trợ", "c: ho t") hashed
with CRC-32: the model stores only the sorted hashes it was trained on, never a vocabulary of
strings. Features come in groups (words, characters, extras); each group is weighted
1 + log(tf) times idf and scaled to unit length separately, then multiplied by the group's weight,
so that the many character n-grams do not drown the few word features.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from zlib import crc32

from nlu.normalize import Normalized

WORD, CHAR, EXTRA = 0, 1, 2
GROUPS = ("word", "char", "extra")


@dataclass(frozen=True)
class FeatureSpec:
    """How features are drawn; stored in the model so runtime featurises as training did."""

    char_min: int = 1
    char_max: int = 5
    word_ngrams: int = 2
    group_weights: tuple[float, float, float] = (1.0, 1.0, 0.5)

    def to_json(self) -> dict:
        return {
            "char_min": self.char_min,
            "char_max": self.char_max,
            "word_ngrams": self.word_ngrams,
            "group_weights": list(self.group_weights),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> FeatureSpec:
        return cls(
            char_min=int(data.get("char_min", 1)),
            char_max=int(data.get("char_max", 5)),
            word_ngrams=int(data.get("word_ngrams", 2)),
            group_weights=tuple(float(x) for x in data.get("group_weights", (1.0, 1.0, 0.5))),  # type: ignore[arg-type]
        )


@dataclass
class Gazetteer:
    """Phrases that mark a feature when they appear: lookup-table entries and annotated entity
    texts, plus regexes. Phrases match whole folded tokens, so diacritics and case do not matter."""

    phrases: dict[tuple[str, ...], set[str]] = field(default_factory=dict)
    regexes: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    max_len: int = 0

    @classmethod
    def build(
        cls,
        normalize,
        lookups: Mapping[str, Iterable[str]] = (),  # type: ignore[assignment]
        entities: Mapping[str, Iterable[str]] = (),  # type: ignore[assignment]
        regexes: Iterable[tuple[str, str]] = (),
    ) -> Gazetteer:
        g = cls()
        for prefix, table in (("lk:", lookups), ("ent:", entities)):
            for name, entries in dict(table).items():
                for entry in entries:
                    key = normalize(str(entry)).folded
                    if key:
                        g.phrases.setdefault(key, set()).add(prefix + str(name))
        g.max_len = max((len(k) for k in g.phrases), default=0)
        for name, pattern in regexes:
            g.regexes.append((str(name), re.compile(pattern, re.IGNORECASE)))
        return g

    def to_json(self) -> dict:
        return {
            "phrases": [[" ".join(k), sorted(v)] for k, v in sorted(self.phrases.items())],
            "regexes": [[n, p.pattern] for n, p in self.regexes],
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Gazetteer:
        g = cls()
        for key, names in data.get("phrases", []):
            g.phrases[tuple(key.split(" "))] = set(names)
        g.max_len = max((len(k) for k in g.phrases), default=0)
        g.regexes = [(n, re.compile(p, re.IGNORECASE)) for n, p in data.get("regexes", [])]
        return g

    def matches(self, norm: Normalized) -> list[str]:
        out: list[str] = []
        toks = norm.folded
        if self.max_len:
            for i in range(len(toks)):
                for size in range(1, min(self.max_len, len(toks) - i) + 1):
                    names = self.phrases.get(toks[i : i + size])
                    if names:
                        out.extend(names)
        for name, rx in self.regexes:
            if rx.search(norm.raw) or rx.search(norm.text) or rx.search(norm.folded_text):
                out.append("re:" + name)
        return out


def _length_bucket(n: int) -> str:
    return "len:" + (
        "0"
        if n == 0
        else "1"
        if n == 1
        else "2"
        if n == 2
        else "3-4"
        if n <= 4
        else "5-8"
        if n <= 8
        else "9+"
    )


def feature_strings(
    norm: Normalized, spec: FeatureSpec, gazetteer: Gazetteer | None = None
) -> tuple[list[str], list[str], list[str]]:
    """(word, char, extra) feature strings of a normalised message."""
    toks, folded = norm.tokens, norm.folded
    words: list[str] = [f"w:{t}" for t in toks]
    words += [f"f:{t}" for t in folded]
    bt = ("<s>", *toks, "</s>")
    bf = ("<s>", *folded, "</s>")
    if spec.word_ngrams >= 2:
        words += [f"w2:{bt[i]} {bt[i + 1]}" for i in range(len(bt) - 1)]
        words += [f"f2:{bf[i]} {bf[i + 1]}" for i in range(len(bf) - 1)]
    if spec.word_ngrams >= 3:
        words += [f"f3:{bf[i]} {bf[i + 1]} {bf[i + 2]}" for i in range(len(bf) - 2)]
    text = f" {' '.join(folded)} "
    chars: list[str] = []
    if folded:
        for n in range(spec.char_min, spec.char_max + 1):
            chars += ["c:" + text[i : i + n] for i in range(len(text) - n + 1)]
    extra = [_length_bucket(len(toks))]
    if any(t[0].isdigit() for t in toks):
        extra.append("num")
    if gazetteer is not None:
        extra += gazetteer.matches(norm)
    return words, chars, extra


@lru_cache(maxsize=1 << 17)
def hash_feature(s: str) -> int:
    # Cached: the same word and n-gram strings come back in message after message, and a
    # dictionary hit costs less than encoding and hashing again (long messages: a few hundred
    # features each).
    return crc32(s.encode("utf-8"))


def hashed_counts(
    norm: Normalized, spec: FeatureSpec, gazetteer: Gazetteer | None = None
) -> tuple[Counter[int], Counter[int], Counter[int]]:
    """Per group, how often each hashed feature occurs in the message."""
    return tuple(
        Counter(map(hash_feature, group)) for group in feature_strings(norm, spec, gazetteer)
    )  # type: ignore[return-value]


def folded_word_hashes(norm: Normalized) -> list[int]:
    """Hashes of the "f:" unigram features, used to tell how much of a message the model knows."""
    return [hash_feature(f"f:{t}") for t in norm.folded]


__all__ = [
    "CHAR",
    "EXTRA",
    "GROUPS",
    "WORD",
    "FeatureSpec",
    "Gazetteer",
    "feature_strings",
    "folded_word_hashes",
    "hash_feature",
    "hashed_counts",
]
