"""Storage on SQLite and PostgreSQL: migrations, constraints, cascades, the inbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from bot.storage import inbox
from bot.storage.db import create_engine, create_sessionmaker, is_healthy
from bot.storage.models import Consent, InboxEntry, Subscription, User


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
        s.add_all([Consent(user_id=u.id, purpose="notices", notice_version=1, channel="web"),
                   Subscription(user_id=u.id, channel="web")])
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
        assert [e.message_id for e in await inbox.pending(s, "telegram")] == ["101", "102"]
    async with sm() as s:
        assert await inbox.claim(s, "telegram", "101")
        await inbox.finish(s, "telegram", "101")
        await s.commit()
    async with sm() as s:
        assert not await inbox.claim(s, "telegram", "101")
        await s.rollback()
        entry = (await s.execute(select(InboxEntry).where(InboxEntry.message_id == "101"))).scalar_one()
        assert entry.status == "done" and entry.payload is None  # raw payload dropped once handled
        assert [e.message_id for e in await inbox.pending(s, "telegram")] == ["102"]


async def test_a_rolled_back_claim_leaves_the_message_to_resume(sm):
    async with sm() as s:
        await inbox.record(s, "zalo", "m1", {"x": 1})
    async with sm() as s:
        assert await inbox.claim(s, "zalo", "m1")
        await s.rollback()  # the process died while handling it
    async with sm() as s:
        assert [e.message_id for e in await inbox.pending(s, "zalo")] == ["m1"]
        assert await inbox.claim(s, "zalo", "m1")
