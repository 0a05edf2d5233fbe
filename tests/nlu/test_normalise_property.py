"""Properties of the text normaliser (nlu/normalize.py) on any text a user can send.

Whatever the text (any Unicode, emoji, combining marks, digits and separators, Vietnamese with
and without diacritics, teencode, lone surrogates from a console), normalising never raises and
gives tokens that are non-empty, lowercase, NFC strings without spaces; folding is what `fold`
says; and the canonical forms are fixed points: tokenizing the tokens again, or normalising the
normalised text again without the tables, changes nothing.

"ci" profile: 10,000 examples per property; `HYPOTHESIS_PROFILE=dev`: 200.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from nlu.normalize import Normalizer, fold, strip_diacritics, tokenize

REAL = Normalizer.from_tables()  # nlu/tables: the tables the bot runs with
PLAIN = Normalizer()

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
WORDS = [
    "ko",
    "k",
    "dc",
    "j",
    "bít",
    "răng",
    "rứa",
    "mô",
    "tê",
    "chi",
    "nghe",
    "du",
    "an",
    "dự",
    "án",
    "một",
    "mot",
    "hoá",
    "thuỷ",
    "đâyyyy",
    "xoong",
    "cuu",
    "5k",
    "2tr",
    "40.000.000",
    "3,5",
    "168/KH-UBND",
    "😀",
    "\u0301",
    "\u0323",
    "İ",
    "ß",
    "ﬁ",
    "Ⅻ",
    "١٢٣",
    "\x00",
    "\ufeff",
]
messages = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + " .,?!0123456789", max_size=80),
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=4)), max_size=12).map("".join),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=20),  # surrogates too
)


def check_tokens(tokens: tuple[str, ...] | list[str]) -> None:
    for tok in tokens:
        assert isinstance(tok, str) and tok
        assert not any(ch.isspace() for ch in tok), tok
        assert unicodedata.is_normalized("NFC", tok), tok


@given(messages)
def test_tokenize_never_raises_and_is_a_fixed_point(text: str) -> None:
    tokens = tokenize(text)
    check_tokens(tokens)
    assert all(tok == tok.lower() for tok in tokens), tokens
    assert tokenize(" ".join(tokens)) == tokens


@given(messages)
def test_normaliser_never_raises(text: str) -> None:
    """With the real tables. Not idempotent, by design: a dialect word is read by its raw
    neighbours ("dc chi0" keeps "chi", "được chi0" reads it as "gì"), so the tables' output is
    not meant to be normalised again."""
    once = REAL(text)
    assert isinstance(once.text, str) and isinstance(once.folded_text, str)
    assert once.raw == text
    check_tokens(once.tokens)
    assert once.folded == tuple(fold(t) for t in once.tokens)


@given(messages)
def test_normaliser_without_tables_is_idempotent(text: str) -> None:
    """Canonical spelling, numbers and "dự án một" -> "dự án 1" are fixed points."""
    once = PLAIN(text)
    check_tokens(once.tokens)
    assert PLAIN(once.text).tokens == once.tokens


@given(messages)
def test_fold_is_idempotent_and_removes_every_mark(text: str) -> None:
    folded = fold(text)
    assert isinstance(folded, str)
    assert fold(folded) == folded
    assert not any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", folded))
    assert strip_diacritics(strip_diacritics(text)) == strip_diacritics(text)
