"""The handoff inbox page: the conversations, a reply that becomes an outbox row to the villager,
hand back, CSRF, audit, the commune filter, and Zalo's reply window said on the page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.messages import Reply
from bot.storage.models import AuditEntry, Handoff, OutboxEntry, Subscription, User, utcnow
from tests.conftest import message

SAID = "nhà tôi bị dột, xin cán bộ xuống xem"


async def villager_asks(pipeline, sender: str, channel: str = "telegram") -> None:
    await pipeline.handle(message("/canbo", sender=sender, channel=channel, lang="vi"))
    await pipeline.handle(message(payload="/consent yes", sender=sender, channel=channel))
    await pipeline.handle(message(SAID, sender=sender, channel=channel))


async def rows(services, query):
    async with services.sessionmaker() as s:
        return list((await s.execute(query)).scalars())


async def test_staff_see_the_conversation_reply_and_hand_back(
    pipeline, services, staff_client, make_staff, login, post_form, csrf_of
):
    await villager_asks(pipeline, "777001")
    [h] = await rows(services, select(Handoff))
    client = await login(staff_client, await make_staff("province"))
    page = await client.get("/staff/handoff")
    text = await page.text()
    assert page.status == 200
    assert SAID in text and f"/staff/handoff/{h.id}" in text and "chưa trả lời" in text
    assert "777001" not in text  # never the platform id
    detail = await client.get(f"/staff/handoff/{h.id}")
    assert SAID in await detail.text()

    # Without the form's token: refused, nothing sent.
    bad = await client.post(
        f"/staff/handoff/{h.id}/reply", data={"text": "x", "_csrf": "nope"}, allow_redirects=False
    )
    assert bad.status == 403
    assert await rows(services, select(OutboxEntry).where(OutboxEntry.source == "handoff")) == []

    sent = await post_form(
        client,
        f"/staff/handoff/{h.id}/reply",
        {"text": "Chào bác, mai xã xuống."},
        page=f"/staff/handoff/{h.id}",
    )
    assert sent.status == 303 and sent.headers["Location"].endswith("?done=sent")
    [row] = await rows(services, select(OutboxEntry).where(OutboxEntry.source == "handoff"))
    assert (row.channel, row.recipient) == ("telegram", "777001")
    assert Reply.from_dict(row.payload).text.endswith("Chào bác, mai xã xuống.")
    shown = await (await client.get(f"/staff/handoff/{h.id}?done=sent")).text()
    assert "Đã gửi tin trả lời." in shown and "Chào bác, mai xã xuống." in shown
    assert "đang chờ gửi" in shown  # the outbox row's state

    back = await post_form(
        client, f"/staff/handoff/{h.id}/close", {}, page=f"/staff/handoff/{h.id}"
    )
    assert back.status == 303
    [h] = await rows(services, select(Handoff))
    assert h.status == "closed" and h.closed_by == "staff"
    actions = [a.action for a in await rows(services, select(AuditEntry).order_by(AuditEntry.id))]
    assert "handoff.reply" in actions and "handoff.hand_back" in actions
    closed = await (await client.get("/staff/handoff?status=closed")).text()
    assert f"/staff/handoff/{h.id}" in closed
    assert f"/staff/handoff/{h.id}" not in await (await client.get("/staff/handoff")).text()
    # Closed: no reply form, and a POST is refused with the reason.
    again = await post_form(
        client, f"/staff/handoff/{h.id}/reply", {"text": "nữa"}, page="/staff/handoff"
    )
    assert again.status == 409 and "đã kết thúc" in await again.text()


async def test_a_commune_account_sees_only_its_area(
    pipeline, services, new_client, make_staff, login, assert_refused
):
    await villager_asks(pipeline, "777002")
    await pipeline.handle(message("/start", sender="777003", channel="telegram"))
    async with services.writing() as s:  # they gave their commune when subscribing
        u = (await s.execute(select(User).where(User.external_id == "777003"))).scalar_one()
        s.add(Subscription(user_id=u.id, channel="telegram", area_code="qng.ba_dong.lang_teng"))
        await s.commit()
    await villager_asks(pipeline, "777003")
    unknown, known = await rows(services, select(Handoff).order_by(Handoff.id))
    assert (unknown.area_code, known.area_code) == (None, "qng.ba_dong.lang_teng")
    mine = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
    other = await login(await new_client(), await make_staff("commune", "qng.ba_to_21484"))
    page = await (await mine.get("/staff/handoff")).text()
    assert f'/staff/handoff/{known.id}"' in page  # a village of its commune
    assert f'/staff/handoff/{unknown.id}"' not in page  # area unknown: province staff only
    assert (await mine.get(f"/staff/handoff/{known.id}")).status == 200
    await assert_refused(mine, "GET", f"/staff/handoff/{unknown.id}")
    assert f'/staff/handoff/{known.id}"' not in await (await other.get("/staff/handoff")).text()
    await assert_refused(other, "GET", f"/staff/handoff/{known.id}")
    await assert_refused(other, "POST", f"/staff/handoff/{known.id}/reply", data={"text": "x"})


async def test_zalo_past_its_window_says_so_and_sends_nothing(
    pipeline, services, staff_client, make_staff, login, post_form
):
    await villager_asks(pipeline, "zalo-1", channel="zalo")
    hours = services.settings.outbox.zalo_window_hours
    async with services.writing() as s:
        await s.execute(update(User).values(last_seen_at=utcnow() - timedelta(hours=hours + 1)))
        await s.commit()
    [h] = await rows(services, select(Handoff))
    client = await login(staff_client, await make_staff("admin"))
    page = await (await client.get(f"/staff/handoff/{h.id}")).text()
    assert "Không gửi được tin trả lời" in page and "Zalo OA không chuyển" in page
    assert 'name="text"' not in page  # no reply form pretending to send
    r = await post_form(client, f"/staff/handoff/{h.id}/reply", {"text": "Chào"})
    assert r.status == 409 and "Zalo OA không chuyển" in await r.text()
    assert await rows(services, select(OutboxEntry).where(OutboxEntry.source == "handoff")) == []


async def test_bad_ids_and_paging_input_are_short_answers(
    pipeline, staff_client, make_staff, login
):
    client = await login(staff_client, await make_staff("province"))
    for path in ("/staff/handoff/abc", "/staff/handoff/99999999", "/staff/handoff/1" + "0" * 30):
        r = await client.get(path)
        assert r.status == 404, path
    r = await client.get("/staff/handoff?before=garbage&status=<x>")
    assert r.status == 200


def _waiting(page: str) -> str | None:
    import re

    m = re.search(r'Gặp cán bộ <span class="count"[^>]*>(\d+)</span>', page)
    return m.group(1) if m else None


async def test_every_page_shows_how_many_wait_for_a_person(
    pipeline, services, new_client, make_staff, login, post_form
):
    province = await login(await new_client(), await make_staff("province"))
    assert _waiting(await (await province.get("/staff/")).text()) is None
    await villager_asks(pipeline, "777101")
    await villager_asks(pipeline, "777102")
    [h, _] = await rows(services, select(Handoff).order_by(Handoff.id))
    assert _waiting(await (await province.get("/staff/reports")).text()) == "2"
    # Answered: no longer waiting, until the villager writes again.
    await post_form(
        province, f"/staff/handoff/{h.id}/reply", {"text": "Dạ."}, page=f"/staff/handoff/{h.id}"
    )
    assert _waiting(await (await province.get("/staff/")).text()) == "1"
    await pipeline.handle(message("cảm ơn, khi nào xã xuống?", sender="777101", channel="telegram"))
    assert _waiting(await (await province.get("/staff/")).text()) == "2"
    # A commune account counts only its area's (these two have none known).
    commune = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
    assert _waiting(await (await commune.get("/staff/")).text()) is None
