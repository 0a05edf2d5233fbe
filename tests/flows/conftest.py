"""Flow tests run the whole pipeline (SQLite and PostgreSQL) with a scripted NLU.

`pipeline` here overrides the root fixture: the same services, but `nlu` is a `FakeNlu` that
understands exactly `SCRIPT`, so what a flow lets through mid-way does not depend on the model.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from bot.app import build_pipeline
from bot.storage.models import User
from tests.fakes.nlu import FakeNlu, understood

SCRIPT = {
    "hỗ trợ làm nhà": understood("ask_policy", answer_id="support.housing"),
    "bao giờ có lớp tập huấn": understood("ask_training", answer_id="training.schedule"),
    "cảm ơn": understood("thank"),
    "xin chào": understood("greet"),
    "cho tôi gặp cán bộ": understood("human"),
    "tôi muốn đăng ký nhận thông báo": understood("subscribe"),
}


@pytest.fixture
def nlu() -> FakeNlu:
    return FakeNlu(SCRIPT)


@pytest.fixture
def pipeline(services, nlu):
    return build_pipeline(dataclasses.replace(services, nlu=nlu))


@pytest.fixture
def user_row(services):
    """`await user_row(sender)`: the web user's row, None when there is none."""

    async def find(sender: str) -> User | None:
        async with services.sessionmaker() as s:
            query = select(User).where(User.channel == "web", User.external_id == sender)
            return (await s.execute(query)).scalar_one_or_none()

    return find
