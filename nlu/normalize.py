"""Text normalisation shared by the intent classifier and FAQ retrieval.

Villagers type on cheap phones: with or without diacritics, in teencode ("ko bít dc j"), with
Central-Vietnamese words ("răng", "rứa", "mô"), stretched letters ("đâyyyy") and emoji. Both the
classifier and retrieval see the same `Normalized` form of a message: lowercased NFC tokens with
abbreviations and dialect expanded (`tokens`), and the same tokens with diacritics folded away
(`folded`). Features are drawn from both, so "hỗ trợ" and "ho tro" meet in the folded form while the
diacritics still count when they were typed.

The abbreviation and dialect tables are data (`nlu/tables/*.yml`, loaded once per directory);
`Normalizer.hash` identifies them so that a model trained under other tables can be detected.
Plain Python (PyYAML reads the tables): it runs on every message, before any model.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

TABLES_DIR = Path(__file__).resolve().parent / "tables"

# Letters run together and numbers (with their separators) are tokens; everything else, emoji and
# punctuation included, separates tokens. Digits are split from letters so "da1" is "da 1",
# "5k" "5 k".
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_THOUSANDS_RE = re.compile(r"[.,](?=\d{3}(?:\D|$))")
_REPEAT_RE = re.compile(r"([^\W\d_])\1+")

_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
# Two spellings of the same syllable are common ("hoá"/"hóa", "thuỷ"/"thủy", "khoẻ"/"khỏe"): the
# tone goes on the first vowel of an open "oa", "oe", "uy" here, the spelling most official texts
# use.
_TONE_SHIFT_RE = re.compile(
    r"^([^aeiouyăâêôơư]*?)(o)([ae])([\u0300\u0301\u0303\u0309\u0323])$|^([^aeiouyăâêôơưq]*?)(u)(y)([\u0300\u0301\u0303\u0309\u0323])$"
)

# After a number these are units, whatever the abbreviation table says: "5k" is five thousand (not
# "5 không"), "5 kg" stays kilograms, "168/KH-UBND" is a plan (kế hoạch), "2 ty" two billion.
_AFTER_NUMBER = {
    "k": ("nghìn",),
    "tr": ("triệu",),
    "ty": ("tỷ",),
    "tỷ": ("tỷ",),
    "tỉ": ("tỷ",),
    "kg": ("kg",),
    "kh": ("kế", "hoạch"),
}
# Abbreviations that only stand for their expansion before a number: "da 5" is "dự án 5", but "da"
# alone is "đã" typed without diacritics.
_BEFORE_NUMBER_ONLY = frozenset({"da"})
# Dialect particles that are only dialect at the end of a message: "tôi về nghe" (nhé) but
# "nghe nói".
_END_ONLY = frozenset({"nghe", "hè", "nha"})

# Dialect words that are also ordinary words ("chi tiêu", "mô hình", "tê liệt", "đau răng") are not
# read as dialect beside these neighbours (the tables' `keep:` list, when present, adds phrases).
_DIALECT_BLOCK_NEXT = {
    "chi": frozenset(
        "tiêu phí trả bộ hội nhánh cục tiết viện ngân đoàn phối lương tộc li ly đội".split()
    ),
    "mô": frozenset("hình tả đun phỏng tơ men típ".split()),
    "ni": frozenset("lông cô sư".split()),
    "tê": frozenset("liệt tái giác cóng buốt mê dại bì tay chân".split()),
    "răng": frozenset("miệng sữa khôn hàm cửa nanh giả lợi".split()),
    "mi": frozenset("tom tôm quang xào gói li ly".split()),
}
_DIALECT_BLOCK_PREV = {
    "chi": frozenset("thu chỉ".split()),
    "tê": frozenset("bị tái làm".split()),
    "răng": frozenset("đau nhổ chải hàm sâu trám mọc gãy bọc".split()),
    "mô": frozenset("quy".split()),
}
# "chi" typed without diacritics may also be "chỉ", "chị", "chì": it is only read as "gì" at the end
# of a message, before a particle, or after a word that asks "what".
_PARTICLES = frozenset(
    "rứa ri hè hỉ hả ạ à a vậy thế nữa đó đây nớ không ko k hông hử ơi nhỉ nhé ha chứ".split()
)
_CHI_PREV = frozenset(
    (
        "làm cái là có vì được nói hỏi biết giúp cần gồm về bị mần ăn "
        "lam cai la co vi duoc noi hoi biet giup can gom ve bi"
    ).split()
)

_NUMBER_WORDS = {
    "một": "1",
    "mot": "1",
    "hai": "2",
    "ba": "3",
    "bốn": "4",
    "bon": "4",
    "năm": "5",
    "nam": "5",
    "sáu": "6",
    "sau": "6",
    "bảy": "7",
    "bay": "7",
    "tám": "8",
    "tam": "8",
    "chín": "9",
    "chin": "9",
    "mười": "10",
    "muoi": "10",
}


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Remove Vietnamese diacritics: "Đường hỗ trợ" -> "Duong ho tro"."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.replace("đ", "d").replace("Đ", "D")


def strip_diacritics(text: str) -> str:
    """What a message looks like typed without diacritics (case kept)."""
    return unicodedata.normalize("NFC", fold(text))


@lru_cache(maxsize=65536)
def _canonical_word(tok: str) -> str:
    """Collapse stretched letters and settle the tone mark's position in one lowercased token."""
    if tok.isdigit():
        return tok
    # "oo" (xoong) and "uu" ("cuu", "luu", "uu dai": cứu, lưu, ưu typed without diacritics) are real
    # spellings; any other doubled letter, and any letter three times or more, is stretching.
    tok = _REPEAT_RE.sub(lambda m: m.group(0) if m.group(0) in ("oo", "uu") else m.group(1), tok)
    decomposed = unicodedata.normalize("NFD", tok)
    tones = [ch for ch in decomposed if ch in _TONE_MARKS]
    if len(tones) == 1:
        base = "".join(ch for ch in decomposed if ch not in _TONE_MARKS)
        base = unicodedata.normalize("NFC", base)
        m = (
            _TONE_SHIFT_RE.match(unicodedata.normalize("NFD", base) + tones[0])
            if base.isalpha()
            else None
        )
        if m:
            if m.group(2):
                head, v1, v2, tone = m.group(1), m.group(2), m.group(3), m.group(4)
            else:
                head, v1, v2, tone = m.group(5), m.group(6), m.group(7), m.group(8)
            tok = unicodedata.normalize("NFC", head + v1 + tone + v2)
    return unicodedata.normalize("NFC", tok)


def _number_token(tok: str) -> str:
    """ "40.000.000" -> "40000000", "3,5" -> "3.5": thousands separators go, decimals stay."""
    if "." not in tok and "," not in tok:
        return tok
    tok = _THOUSANDS_RE.sub("", tok)
    return tok.replace(",", ".")


def tokenize(text: str) -> list[str]:
    """Lowercased canonical tokens of `text`, before any table is applied."""
    text = unicodedata.normalize("NFC", text).lower()
    out: list[str] = []
    for tok in _TOKEN_RE.findall(text):
        out.append(_number_token(tok) if tok[0].isdigit() else _canonical_word(tok))
    return out


@dataclass(frozen=True)
class Normalized:
    """A message after normalisation: canonical tokens, and the same tokens without diacritics."""

    raw: str
    tokens: tuple[str, ...]
    folded: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    @property
    def folded_text(self) -> str:
        return " ".join(self.folded)

    def __bool__(self) -> bool:
        return bool(self.tokens)


def _phrase_map(table: Mapping[str, str] | None) -> dict[tuple[str, ...], tuple[str, ...]]:
    out: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, value in (table or {}).items():
        k = tuple(tokenize(str(key)))
        v = tuple(tokenize(str(value)))
        if k and k != v:
            out[k] = v
    return out


@dataclass(frozen=True)
class Tables:
    """The normalisation tables of `nlu/tables/`, as data.

    - `abbreviations`: teencode and abbreviations, whole tokens ("ko" -> "không").
    - `dialect`: Central-Vietnamese words and phrases, keyed as typed. Phrases (several words) are
      matched first and always replaced; a single word only where its neighbours allow (see
      `_DIALECT_BLOCK_NEXT`: "chi tiêu" and "đau răng" stay).
    - `phrases`, `dialect_folded` (optional sections of dialect.yml): more of the same.
    - `keep` (optional list in dialect.yml): standard phrases whose words are never read as dialect.
    """

    abbreviations: dict[str, str] = field(default_factory=dict)
    dialect: dict[str, str] = field(default_factory=dict)
    phrases: dict[str, str] = field(default_factory=dict)
    dialect_folded: dict[str, str] = field(default_factory=dict)
    keep: tuple[str, ...] = ()

    @property
    def hash(self) -> str:
        """A short digest, stored in a model to notice when the tables change after training."""
        blob = json.dumps(
            [self.abbreviations, self.dialect, self.phrases, self.dialect_folded, list(self.keep)],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class Normalizer:
    """Turns raw message text into `Normalized` tokens using the `Tables` and the training data's
    synonyms (variant phrase -> canonical value). Every key matches whole tokens only."""

    def __init__(
        self, tables: Tables | None = None, synonyms: Mapping[str, str] | None = None
    ) -> None:
        self.tables = tables or Tables()
        self.synonyms = dict(synonyms or {})
        t = self.tables
        self._abbr = _phrase_map(t.abbreviations)
        self._dialect = _phrase_map(t.dialect)
        self._phrases = _phrase_map(t.phrases)
        self._dialect_folded = _phrase_map(t.dialect_folded)
        self._keep = {tuple(fold(x) for x in tokenize(k)) for k in t.keep}
        self._keep_len = max((len(k) for k in self._keep), default=0)
        self._syn = _phrase_map(self.synonyms)
        # Multi-word synonyms also match when typed without diacritics; one word could be another
        # word.
        self._syn_folded = {
            tuple(fold(x) for x in k): v for k, v in self._syn.items() if len(k) > 1
        }
        maps = [self._abbr, self._dialect, self._phrases, self._dialect_folded, self._syn]
        self._max_len = max((len(k) for m in maps for k in m), default=1)
        self.hash = t.hash

    @classmethod
    def from_tables(
        cls, directory: str | Path | None = None, synonyms: Mapping[str, str] | None = None
    ) -> Normalizer:
        """A normaliser over `directory`/{abbreviations,dialect}.yml (default nlu/tables)."""
        return cls(load_tables(directory), synonyms)

    def with_synonyms(self, synonyms: Mapping[str, str]) -> Normalizer:
        return Normalizer(self.tables, {**self.synonyms, **synonyms})

    def __call__(self, text: str) -> Normalized:
        tokens = self._expand(tokenize(text or ""))
        return Normalized(
            raw=text or "", tokens=tuple(tokens), folded=tuple(fold(t) for t in tokens)
        )

    # -- the passes ---------------------------------------------------------------------------

    def _expand(self, toks: list[str]) -> list[str]:
        toks = self._tables(toks)
        toks = self._project_numbers(toks)
        if self._syn:
            toks = self._synonyms(toks)
        return toks

    def _kept(self, folded: list[str]) -> list[bool]:
        """Which tokens belong to a `keep` phrase and so are never read as dialect."""
        kept = [False] * len(folded)
        for i in range(len(folded)):
            for size in range(1, min(self._keep_len, len(folded) - i) + 1):
                if tuple(folded[i : i + size]) in self._keep:
                    kept[i : i + size] = [True] * size
        return kept

    def _tables(self, toks: list[str]) -> list[str]:
        kept = self._kept([fold(t) for t in toks]) if self._keep else [False] * len(toks)
        out: list[str] = []
        i, n = 0, len(toks)
        while i < n:
            tok = toks[i]
            after_number = i > 0 and toks[i - 1][0].isdigit()
            if after_number and tok in _AFTER_NUMBER:
                out.extend(_AFTER_NUMBER[tok])
                i += 1
                continue
            for size in range(min(self._max_len, n - i), 0, -1):
                key = tuple(toks[i : i + size])
                free = not any(kept[i : i + size])
                end = i + size == n
                if free and key in self._phrases:
                    out.extend(self._phrases[key])
                    break
                if free and (key in self._dialect or key in self._dialect_folded):
                    if size > 1 or self._dialect_fits(toks, i):
                        out.extend(self._dialect.get(key) or self._dialect_folded[key])
                        break
                if key in self._abbr:
                    if (
                        size == 1
                        and tok in _BEFORE_NUMBER_ONLY
                        and (end or not toks[i + 1][0].isdigit())
                    ):
                        continue
                    out.extend(self._abbr[key])
                    break
            else:
                size = 1
                out.append(tok)
            i += size
        return out

    @staticmethod
    def _dialect_fits(toks: list[str], i: int) -> bool:
        """Whether the one-word dialect key at `i` is dialect here, judging by its neighbours."""
        word = toks[i]
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if word in _END_ONLY:
            return nxt is None
        if word == "chi":
            return nxt is None or nxt in _PARTICLES or (prev is not None and prev in _CHI_PREV)
        if nxt is not None and nxt in _DIALECT_BLOCK_NEXT.get(word, ()):
            return False
        return prev is None or prev not in _DIALECT_BLOCK_PREV.get(word, ())

    @staticmethod
    def _project_numbers(toks: list[str]) -> list[str]:
        """ "dự án một" / "du an mot" -> "dự án 1": projects are asked for by number."""
        out = list(toks)
        for i in range(2, len(out)):
            if out[i] in _NUMBER_WORDS and fold(out[i - 2]) == "du" and fold(out[i - 1]) == "an":
                out[i] = _NUMBER_WORDS[out[i]]
        return out

    def _synonyms(self, toks: list[str]) -> list[str]:
        folded = [fold(t) for t in toks]
        out: list[str] = []
        i, n = 0, len(toks)
        while i < n:
            for size in range(min(self._max_len, n - i), 0, -1):
                key = tuple(toks[i : i + size])
                value = self._syn.get(key) or self._syn_folded.get(tuple(folded[i : i + size]))
                if value and not _starts_inside(folded, i, size, value):
                    out.extend(value)
                    break
            else:
                size = 1
                out.append(toks[i])
            i += size
        return out


def _starts_inside(folded: list[str], i: int, size: int, value: tuple[str, ...]) -> bool:
    """Whether the canonical `value` itself starts inside the matched span: "thẻ bảo hiểm y tế"
    must not become "bảo hiểm y tế y tế" through the variant "thẻ bảo hiểm"."""
    target = tuple(fold(t) for t in value)
    return any(tuple(folded[j : j + len(target)]) == target for j in range(i + 1, i + size))


def _read_tables_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark else ""
        raise ValueError(f"{path}{at}: YAML syntax error: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping such as `abbreviations: {{ko: không}}`")
    return data


def _word_map(data: dict, key: str, path: Path) -> dict[str, str]:
    table = data.get(key)
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ValueError(
            f"{path}: `{key}:` must map a word to its standard form, e.g. {{ko: không}}"
        )
    return {str(k).lower(): str(v) for k, v in table.items() if k is not None and v is not None}


_TABLE_CACHE: dict[tuple, Tables] = {}


def load_tables(directory: str | Path | None = None) -> Tables:
    """The `Tables` in `directory` (default nlu/tables), read once per version of the files.

    abbreviations.yml holds `abbreviations:`; dialect.yml holds `dialect:`, `phrases:`,
    `dialect_folded:` and `keep:` (a list). Missing files or sections are empty.
    """
    d = Path(directory) if directory is not None else TABLES_DIR
    a_path, d_path = d / "abbreviations.yml", d / "dialect.yml"
    stamp = (
        str(d.resolve()),
        *(p.stat().st_mtime_ns if p.exists() else 0 for p in (a_path, d_path)),
    )
    if stamp not in _TABLE_CACHE:
        a, dl = _read_tables_file(a_path), _read_tables_file(d_path)
        keep = dl.get("keep") or []
        if not isinstance(keep, list):
            raise ValueError(f"{d_path}: `keep:` must be a list of phrases")
        _TABLE_CACHE[stamp] = Tables(
            abbreviations=_word_map(a, "abbreviations", a_path),
            dialect=_word_map(dl, "dialect", d_path),
            phrases=_word_map(dl, "phrases", d_path),
            dialect_folded=_word_map(dl, "dialect_folded", d_path),
            keep=tuple(str(k) for k in keep if k),
        )
    return _TABLE_CACHE[stamp]
