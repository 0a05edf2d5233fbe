"""The outbox functions notices build on: bulk fan-out, cancel, counts by state and reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.messages import Button, Reply
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import Notice, OutboxEntry
from bot.storage.repositories import outbox


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[Any]:
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def rows(n: int, notice_id: int | None = None, **extra: Any) -> list[dict[str, Any]]:
    reply = Reply("Tập huấn", buttons=(Button("Tôi sẽ tham gia", "rsvp:yes"),))
    return [
        {"channel": "telegram", "recipient": str(1000 + i), "reply": reply, "notice_id": notice_id}
        | extra
        for i in range(n)
    ]


async def test_add_many_writes_every_row_in_chunks(sm: Any) -> None:
    async with sm() as session:
        count = await outbox.add_many(session, rows(outbox.CHUNK * 2 + 7, priority=5))
        await session.commit()
    assert count == outbox.CHUNK * 2 + 7
    async with sm() as session:
        got = (await session.execute(select(OutboxEntry))).scalars().all()
    assert len(got) == count
    assert len({r.recipient for r in got}) == count
    first = got[0]
    assert first.status == "queued" and first.priority == 5 and first.source == "notice"
    assert Reply.from_dict(first.payload).text == "Tập huấn"
    assert first.options == ["rsvp:yes"] and first.use_quota is False


async def test_cancel_fails_queued_rows_and_counts_group_by_state_and_reason(sm: Any) -> None:
    async with sm() as session:
        notices = [Notice(title={"vi": "T"}, body={"vi": "B"}) for _ in range(2)]
        session.add_all(notices)
        await session.flush()
        mine, other = notices[0].id, notices[1].id
        await outbox.add_many(session, rows(10, notice_id=mine))
        await session.commit()
        ids = list((await session.execute(select(OutboxEntry.id))).scalars())
        await session.execute(
            update(OutboxEntry).where(OutboxEntry.id.in_(ids[:3])).values(status="sent")
        )
        await session.execute(
            update(OutboxEntry).where(OutboxEntry.id == ids[3]).values(status="sending")
        )
        await session.commit()
    async with sm() as session:
        assert await outbox.cancel_notice(session, mine) == 6
        await session.commit()
    async with sm() as session:
        states = await outbox.notice_states(session, mine)
        assert await outbox.notice_states(session, other) == {}
    assert states == {("sent", None): 3, ("sending", None): 1, ("failed", "cancelled"): 6}
