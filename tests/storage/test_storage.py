"""Storage on SQLite and PostgreSQL: migrations, constraints, cascades, the inbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from bot.storage.db import create_engine, create_sessionmaker, is_healthy
from bot.storage.models import Consent, InboxEntry, Subscription, User
from bot.storage.repositories import inbox


@pytest.fixture
async def sm(db_url):
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def test_migrations_create_every_table(db_url):
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"users", "consents", "subscriptions", "inbox", "alembic_version"} <= names
        assert await is_healthy(engine)
    finally:
        await engine.dispose()


async def test_one_user_per_channel_and_id(sm):
    async with sm() as s:
        s.add(User(channel="web", external_id="a", state={}))
        await s.commit()
    async with sm() as s:
        s.add(User(channel="web", external_id="a", state={}))
        with pytest.raises(IntegrityError):
            await s.commit()
    async with sm() as s:
        s.add(User(channel="telegram", external_id="a", state={}))
        await s.commit()


async def test_deleting_a_user_deletes_their_consents_and_subscriptions(sm):
    async with sm() as s:
        u = User(channel="web", external_id="del", state={})
        s.add(u)
        await s.flush()
        s.add_all(
            [
                Consent(user_id=u.id, purpose="notices", notice_version=1, channel="web"),
                Subscription(user_id=u.id, channel="web"),
            ]
        )
        await s.commit()
        await s.delete(u)
        await s.commit()
    async with sm() as s:
        assert (await s.execute(select(func.count()).select_from(Consent))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(Subscription))).scalar_one() == 0


async def test_inbox_records_once_claims_once_and_lists_pending(sm):
    async with sm() as s:
        assert await inbox.record(s, "telegram", "101", {"update_id": 101})
        assert not await inbox.record(s, "telegram", "101", {"update_id": 101})
        assert await inbox.record(s, "telegram", "102", {"update_id": 102})
    async with sm() as s:
        assert [e.message_id for e in await inbox.pending(s, ["telegram"])] == ["101", "102"]
    async with sm() as s:
        assert await inbox.claim(s, "telegram", "101")
        await s.commit()
    async with sm() as s:
        assert not await inbox.claim(s, "telegram", "101")
        await s.rollback()
        entry = (
            await s.execute(select(InboxEntry).where(InboxEntry.message_id == "101"))
        ).scalar_one()
        assert entry.status == "done" and entry.payload is None  # raw payload dropped once handled
        assert [e.message_id for e in await inbox.pending(s, ["telegram"])] == ["102"]


async def test_a_rolled_back_claim_leaves_the_message_to_resume(sm):
    async with sm() as s:
        await inbox.record(s, "zalo", "m1", {"x": 1})
    async with sm() as s:
        assert await inbox.claim(s, "zalo", "m1")
        await s.rollback()  # the process died while handling it
    async with sm() as s:
        assert [e.message_id for e in await inbox.pending(s, ["zalo"])] == ["m1"]
        assert await inbox.claim(s, "zalo", "m1")


async def test_a_message_that_stops_the_process_is_resumed_at_most_max_attempts_times(sm):
    """Nothing records a failure when the process dies mid-message: each resume counts instead."""
    async with sm() as s:
        await inbox.record(s, "telegram", "poison", {"update_id": 1, "text": "xin chào"})
        await inbox.record(s, "telegram", "fine", {"update_id": 2})
    for start in range(inbox.MAX_ATTEMPTS):
        async with sm() as s:
            taken = [e.message_id for e in await inbox.pending(s, ["telegram"])]
        assert taken == (["poison", "fine"] if start == 0 else ["poison"])
        async with sm() as s:
            if start == 0:  # the healthy one is handled at the first resume
                assert await inbox.claim(s, "telegram", "fine")
                await s.commit()
            # ...the poison one kills the process every time: nothing is committed
    async with sm() as s:
        assert await inbox.pending(s, ["telegram"]) == []
        rows = {e.message_id: e for e in (await s.execute(select(InboxEntry))).scalars()}
    poison = rows["poison"]
    assert (poison.status, poison.attempts, poison.payload, poison.error) == (
        "failed",
        inbox.MAX_ATTEMPTS,
        None,
        inbox.INTERRUPTED,
    )
    assert rows["fine"].status == "done"
    async with sm() as s:
        assert not await inbox.claim(s, "telegram", "poison")  # a redelivery is not handled again
