"""A generated Rasa 3 NLU file of any size, shaped like a public intent dataset.

Vietnamese-looking syllables are built from onsets, rhymes and tones; each intent owns a few
syllables and phrases and shares the rest, sentences carry entity annotations, and the file also
holds synonyms, a regex and a lookup table. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from pathlib import Path

ONSETS = [
    "",
    "b",
    "c",
    "ch",
    "d",
    "đ",
    "g",
    "gh",
    "h",
    "k",
    "kh",
    "l",
    "m",
    "n",
    "ng",
    "nh",
    "ph",
    "qu",
    "r",
    "s",
    "t",
    "th",
    "tr",
    "v",
    "x",
]
RHYMES = [
    "a",
    "ai",
    "an",
    "ang",
    "anh",
    "ao",
    "at",
    "ăn",
    "âm",
    "ân",
    "âu",
    "e",
    "em",
    "en",
    "ê",
    "ênh",
    "i",
    "ia",
    "im",
    "in",
    "inh",
    "o",
    "oa",
    "oan",
    "oi",
    "om",
    "on",
    "ong",
    "ô",
    "ôi",
    "ông",
    "ơ",
    "ơi",
    "ơn",
    "u",
    "ui",
    "um",
    "un",
    "ung",
    "uyên",
    "ư",
    "ưa",
    "ương",
    "ươi",
]
TONES = ["", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"]


def _syllable(rng: random.Random) -> str:
    import unicodedata

    rhyme = rng.choice(RHYMES)
    tone = rng.choice(TONES)
    # put the tone on the rhyme's first vowel: close enough to real spelling for a feature test
    for i, ch in enumerate(rhyme):
        if ch in "aăâeêioôơuưy":
            rhyme = rhyme[: i + 1] + tone + rhyme[i + 1 :]
            break
    return unicodedata.normalize("NFC", rng.choice(ONSETS) + rhyme)


def rasa_yaml(n_examples: int = 5000, n_intents: int = 30, seed: int = 7) -> str:
    rng = random.Random(seed)
    vocab = sorted({_syllable(rng) for _ in range(6000)})
    shared = vocab[:1500]
    intents = [f"intent_{i:02d}" if i % 5 else f"faq/ask_topic_{i:02d}" for i in range(n_intents)]
    own = {it: rng.sample(vocab[1500:], 12) for it in intents}
    phrases = {it: [" ".join(rng.sample(own[it], 2)) for _ in range(4)] for it in intents}
    places = [" ".join(rng.sample(vocab, 2)).title() for _ in range(40)]
    lines = ['version: "3.1"', "nlu:"]
    per_intent = n_examples // n_intents
    for it in intents:
        lines += [f"- intent: {it}", "  examples: |"]
        for _ in range(per_intent):
            words = [rng.choice(shared) for _ in range(rng.randint(2, 9))]
            for _ in range(rng.randint(1, 3)):
                words.insert(
                    rng.randint(0, len(words)),
                    rng.choice(own[it]) if rng.random() < 0.6 else rng.choice(phrases[it]),
                )
            if rng.random() < 0.3:
                words.insert(rng.randint(0, len(words)), f"[{rng.choice(places)}](place)")
            if rng.random() < 0.05:
                words.append(f"0{rng.randint(100000000, 999999999)}")
            lines.append("    - " + " ".join(words))
    lines += ["- synonym: " + places[0], "  examples: |", "    - " + places[1].lower()]
    lines += ["- regex: phone", "  examples: |", r"    - \b0\d{9}\b"]
    lines += ["- lookup: place", "  examples: |"] + [f"    - {p}" for p in places]
    return "\n".join(lines) + "\n"


def write(path: Path, n_examples: int = 5000, n_intents: int = 30, seed: int = 7) -> Path:
    path.write_text(rasa_yaml(n_examples, n_intents, seed), encoding="utf-8")
    return path
