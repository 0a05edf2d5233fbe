"""Action tests run the whole pipeline (SQLite and PostgreSQL) with a scripted NLU.

`pipeline` here overrides the root fixture: the same services, but `nlu` is a `FakeNlu` that
understands exactly `SCRIPT`, so what an action is given does not depend on the model.
"""

from __future__ import annotations

import dataclasses

import pytest

from bot.app import build_pipeline
from tests.fakes.nlu import FakeNlu, understood

SCRIPT = {
    "hỗ trợ làm nhà": understood("ask_policy", answer_id="support.housing"),
    "sản phẩm gì đó": understood("ask_product"),  # understood, but no item close enough
    "tôi muốn nói tiếng hrê": understood("set_language"),
}


@pytest.fixture
def nlu() -> FakeNlu:
    return FakeNlu(SCRIPT)


@pytest.fixture
def pipeline(services, nlu):
    return build_pipeline(dataclasses.replace(services, nlu=nlu))
