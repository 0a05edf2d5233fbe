"""Handoff tests run the whole pipeline (SQLite and PostgreSQL) with a scripted NLU, like the flow
tests: what the villager's texts mean does not depend on the model."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from bot.app import build_pipeline
from bot.storage.models import Handoff, HandoffMessage, OutboxEntry, User
from tests.fakes.nlu import FakeNlu, understood

SCRIPT = {
    "hỗ trợ làm nhà": understood("ask_policy", answer_id="support.housing"),
    "cho tôi gặp cán bộ": understood("human"),
    "tôi muốn hỏi cán bộ về đất rừng": understood("human"),
    "xin chào": understood("greet"),
}


@pytest.fixture
def nlu() -> FakeNlu:
    return FakeNlu(SCRIPT)


@pytest.fixture
def services(app_parts, nlu):
    return dataclasses.replace(app_parts[0], nlu=nlu)


@pytest.fixture
def pipeline(services):
    return build_pipeline(services)


@pytest.fixture
def db(services):
    """Read helpers: `await db.user(sender)`, `db.handoffs()`, `db.messages()`, `db.outbox(src)`."""

    class Db:
        async def _all(self, query):
            async with services.sessionmaker() as s:
                return list((await s.execute(query)).scalars())

        async def user(self, sender: str, channel: str = "web") -> User | None:
            found = await self._all(
                select(User).where(User.channel == channel, User.external_id == sender)
            )
            return found[0] if found else None

        async def handoffs(self) -> list[Handoff]:
            return await self._all(select(Handoff).order_by(Handoff.id))

        async def messages(self) -> list[HandoffMessage]:
            return await self._all(select(HandoffMessage).order_by(HandoffMessage.id))

        async def outbox(self, source: str = "handoff") -> list[OutboxEntry]:
            return await self._all(
                select(OutboxEntry).where(OutboxEntry.source == source).order_by(OutboxEntry.id)
            )

    return Db()
