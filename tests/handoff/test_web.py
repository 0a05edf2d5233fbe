"""The web chat has no push: its page asks for staff replies (GET /api/handoff/replies), each
handed over once, to the session's own user only."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from bot.handoff import staff
from bot.storage.models import Handoff, OutboxEntry
from tests.channels.web_helpers import post, visitor

_ids = itertools.count(1)


def mid() -> str:
    return f"handoffweb{next(_ids):06d}"


async def ask(session, server) -> None:
    status, body = await post(session, server, message_id=mid(), text="/canbo", lang="vi")
    assert status == 200 and "Bạn có đồng ý không?" in body["replies"][-1]["text"]
    status, body = await post(session, server, message_id=mid(), payload="/consent yes")
    assert status == 200
    assert [b["payload"] for b in body["replies"][-1]["buttons"]] == ["/handoff end"]


async def replies(session, server, **kw) -> tuple[int, dict]:
    async with session.get(server.make_url("/api/handoff/replies"), **kw) as resp:
        return resp.status, await resp.json()


async def test_the_page_gets_a_staff_reply_once(server, app_parts):
    services = app_parts[0]
    async with visitor(server) as me, visitor(server) as other:
        await ask(me, server)
        assert await replies(me, server) == (200, {"replies": []})
        async with services.sessionmaker() as s:
            [h] = (await s.execute(select(Handoff))).scalars().all()
        async with services.writing() as s:
            await staff.reply(s, services, h.id, "Chào bác ạ.", staff_id=None, staff_name="lan")
            await s.commit()
        assert await replies(other, server) == (200, {"replies": []})  # not theirs
        status, body = await replies(me, server)
        assert status == 200
        [reply] = body["replies"]
        assert reply["text"] == "Một cán bộ đã trả lời bạn:\nChào bác ạ."
        assert await replies(me, server) == (200, {"replies": []})  # handed over once
        async with services.sessionmaker() as s:
            [row] = (
                await s.execute(select(OutboxEntry).where(OutboxEntry.source == "handoff"))
            ).scalars()
        assert row.status == "sent" and row.payload is None
        status, _ = await replies(me, server, headers={"Sec-Fetch-Site": "cross-site"})
        assert status == 403


async def test_without_a_session_it_is_refused(server):
    async with visitor(server) as me:
        me.cookie_jar.clear()
        status, body = await replies(me, server)
        assert status == 403 and "tải lại trang" in body["error"]
