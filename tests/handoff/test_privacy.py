"""Handoff messages are personal data: /dulieu exports them, /xoadulieu erases them, and the
retention purge ages them out."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from bot.handoff import staff
from bot.privacy import erase, export
from bot.privacy.retention import purge
from bot.storage.models import HandoffMessage, User, utcnow
from tests.conftest import message
from tests.handoff.test_chat import open_handoff
from tests.privacy.conftest import traces

SAID = "nhà tôi ở thôn Mang Ri bị dột"
REPLY = "Xã sẽ cử người xuống xem nhà bác"


async def talk(pipeline, services, db, sender: str) -> None:
    await open_handoff(pipeline, sender)
    await pipeline.handle(message(SAID + " " + sender, sender=sender))
    h = [h for h in await db.handoffs() if h.status == "open"][-1]
    async with services.writing() as s:
        await staff.reply(s, services, h.id, REPLY + " " + sender, staff_id=None, staff_name="lan")
        await s.commit()


async def test_export_holds_the_conversation(pipeline, services, db, settings):
    await talk(pipeline, services, db, "x1")
    turn = await pipeline.handle(message("/dulieu", sender="x1", lang="vi"))
    _summary, as_json, as_text = turn.replies
    folder = settings.path(settings.privacy.export_dir)
    data = json.loads(export.local_file(as_json.document, folder).read_text("utf-8"))
    [h] = data["handoffs"]
    assert [(m["from"], m["text"]) for m in h["messages"]] == [
        ("villager", SAID + " x1"),
        ("staff", REPLY + " x1"),
    ]
    text = export.local_file(as_text.document, folder).read_text("utf-8")
    assert "Trò chuyện với cán bộ: 1" in text
    assert "Bạn: " + SAID + " x1" in text and "Cán bộ: " + REPLY + " x1" in text


async def test_erasure_removes_the_conversation_and_keeps_the_others(
    pipeline, services, db, app_parts
):
    engine = app_parts[1]
    await talk(pipeline, services, db, "gone")
    await talk(pipeline, services, db, "stays")
    await pipeline.handle(message("/xoadulieu", sender="gone"))
    await pipeline.handle(message(payload="/delete yes", sender="gone"))
    await erase.settle()
    assert await traces(engine, [SAID + " gone", REPLY + " gone"]) == []
    assert {t for t, _c, _n in await traces(engine, [SAID + " stays"])} == {"handoff_messages"}
    assert len(await db.handoffs()) == 1


async def test_the_retention_purge_ages_messages_out(pipeline, services, db, settings):
    await talk(pipeline, services, db, "old")
    await talk(pipeline, services, db, "new")
    days = settings.privacy.retention_days
    long_ago = utcnow() - timedelta(days=days + 1)
    [old_h, _new_h] = await db.handoffs()
    async with services.writing() as s:
        await s.execute(
            update(HandoffMessage).where(HandoffMessage.handoff_id == old_h.id).values(at=long_ago)
        )
        # Still an active user: only their old messages go, not the person.
        await s.execute(update(User).values(last_seen_at=utcnow()))
        await s.commit()
    dry = await purge(services.sessionmaker, settings, dry_run=True)
    assert dry.handoff_messages == 2
    report = await purge(services.sessionmaker, settings, ordering=services.ordering)
    assert report.handoff_messages == 2
    assert {m.text for m in await db.messages()} == {SAID + " new", REPLY + " new"}
