"""Invite codes as typed on a phone: any code, shown and typed back in any case with any
separators, is read as itself; no other text is read as a code of another alphabet."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import officers

codes = st.text(alphabet=officers.ALPHABET, min_size=officers.LENGTH, max_size=officers.LENGTH)
separators = st.sampled_from(["", "-", " ", "  ", " - ", ".", "–"])


@given(codes, separators, st.booleans())
def test_a_code_typed_back_loosely_is_itself(code, sep, lower):
    typed = f"{code[:4]}{sep}{code[4:]}"
    assert officers.normalize(typed.lower() if lower else typed) == code
    assert officers.normalize(officers.show(code)) == code


@given(st.text(max_size=40))
def test_any_text_is_a_code_of_the_alphabet_or_nothing(text):
    code = officers.normalize(text)
    assert code is None or (len(code) == officers.LENGTH and set(code) <= set(officers.ALPHABET))
    officers.looks_like_a_try(text)  # never raises
