"""The feedback inbox (bot/staff/pages/feedback.py) on SQLite and PostgreSQL: filters, overdue
after `feedback.overdue_days`, status changes and replies that reach the citizen in their
channel and language (an outbox row in the same transaction), a rejection's required reason,
assignment, a commune account's view, every action audited."""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import select

from bot.feedback import tracking
from bot.storage.models import AuditEntry, Feedback, FeedbackEvent
from tests.staff.review_data import (
    BA_DONG,
    BA_TO,
    days_ago,
    jpeg_bytes,
    make_feedback,
    make_user,
    outbox_rows,
    store_photo,
)

IDS = re.compile(r'href="/staff/feedback/(\d+)"')


def ids_in(html: str) -> list[int]:
    return [int(x) for x in IDS.findall(html)]


async def get(client, path: str, **params):
    response = await client.get(path, params=params, allow_redirects=False)
    return response.status, await response.text()


async def audit_actions(services) -> list[tuple[str, str | None, dict | None]]:
    async with services.sessionmaker() as session:
        got = await session.execute(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.action, e.target, e.detail) for e in got.scalars() if e.action != "login"]


async def test_filters_and_overdue(staff_client, make_staff, login, services, monkeypatch):
    citizen = await make_user(services)
    old_open, _ = await make_feedback(services, citizen, created_at=days_ago(10))
    old_done, _ = await make_feedback(
        services, citizen, created_at=days_ago(9), category="chinh_sach"
    )
    recent, code = await make_feedback(services, citizen, created_at=days_ago(3))
    async with services.writing() as session:
        from bot.storage.repositories import feedback as repo

        repo.set_status(session, await session.get(Feedback, old_done), "resolved")
        await session.commit()
    staff = await make_staff("province")
    client = await login(staff_client, staff)
    status, html = await get(client, "/staff/feedback")
    assert status == 200 and ids_in(html) == [recent, old_done, old_open]
    assert html.count("quá hạn</span>") == 1  # 10 days open; the resolved one is not overdue
    cases = [
        ({"overdue": "1"}, [old_open]),
        ({"status": "open"}, [recent, old_open]),
        ({"status": "resolved"}, [old_done]),
        ({"category": "chinh_sach"}, [old_done]),
        ({"code": tracking.show(code).lower()}, [recent]),
        ({"order": "old"}, [old_open, old_done, recent]),
        ({"assigned": "none"}, [recent, old_done, old_open]),
        ({"assigned": "me"}, []),
    ]
    for params, expected in cases:
        status, html = await get(client, "/staff/feedback", **params)
        assert status == 200 and ids_in(html) == expected, params
    # the setting: one day makes the three-day-old one overdue too
    feedback = dataclasses.replace(services.settings.feedback, overdue_days=1)
    monkeypatch.setattr(
        services, "settings", dataclasses.replace(services.settings, feedback=feedback)
    )
    status, html = await get(client, "/staff/feedback", overdue="1")
    assert ids_in(html) == [recent, old_open] and "quá 1 ngày" in html
    for params, says in [
        ({"status": "lost"}, "Tình trạng: chọn"),
        ({"code": "abc"}, "Mã phản ánh: 8 ký tự"),
        ({"assigned": "everyone"}, "Giao cho: chọn"),
        ({"category": "<script>"}, "Chuyên mục: chọn"),
        ({"before": "%%%"}, "Liên kết trang đã cũ"),
    ]:
        status, html = await get(client, "/staff/feedback", **params)
        assert status == 400 and says in html and "<script>" not in html, params


async def test_status_reply_and_rejection_reach_the_citizen(
    staff_client, make_staff, login, services, post_form, monkeypatch
):
    citizen = await make_user(services, channel="telegram", external_id="555", locale="cor")
    fid, code = await make_feedback(services, citizen, lang="cor")
    asked: list[str] = []
    real = services.catalogs.for_lang
    monkeypatch.setattr(
        services.catalogs, "for_lang", lambda lang: asked.append(lang) or real(lang)
    )
    staff = await make_staff("province")
    client = await login(staff_client, staff)
    detail = f"/staff/feedback/{fid}"
    status, html = await get(client, detail)
    assert status == 200 and "Đường vào thôn bị sạt lở" in html
    # a reply to a new feedback: it is now received, and the citizen reads the reply
    response = await post_form(client, f"{detail}/reply", {"reply": "Xã sẽ cử người xem"}, detail)
    assert response.status == 303 and response.headers["Location"] == f"{detail}?done=reply"
    [row] = await outbox_rows(services, "555")
    assert (row.channel, row.source) == ("telegram", "feedback")
    assert f"Phản ánh {tracking.show(code)} của bạn: đã tiếp nhận." in row.payload["text"]
    assert "Cán bộ trả lời: Xã sẽ cử người xem" in row.payload["text"]
    assert asked[0] == "cor"
    # a reply alone, the status unchanged: told as a reply
    await post_form(client, f"{detail}/reply", {"reply": "Đã có lịch"}, detail)
    text = (await outbox_rows(services, "555"))[-1].payload["text"]
    assert "Cán bộ đã trả lời phản ánh" in text and "đã tiếp nhận" in text
    # in progress, then a rejection: without a reason it is refused and nothing changes
    response = await post_form(client, f"{detail}/status", {"status": "in_progress"}, detail)
    assert response.headers["Location"] == f"{detail}?done=status"
    assert "đang xử lý" in (await outbox_rows(services, "555"))[-1].payload["text"]
    sent = len(await outbox_rows(services, "555"))
    response = await post_form(
        client, f"{detail}/status", {"status": "rejected", "reason": "  "}, detail
    )
    assert response.status == 400 and "Từ chối cần ghi lý do" in await response.text()
    assert len(await outbox_rows(services, "555")) == sent
    for bad in ({"status": "deleted"}, {"status": "resolved", "reply": "x" * 2001}):
        response = await post_form(client, f"{detail}/status", bad, detail)
        assert response.status == 400
    response = await post_form(
        client,
        f"{detail}/status",
        {"status": "rejected", "reason": "Ngoài phạm vi của xã"},
        detail,
    )
    assert response.status == 303
    text = (await outbox_rows(services, "555"))[-1].payload["text"]
    assert "không giải quyết được" in text and "Lý do: Ngoài phạm vi của xã" in text
    async with services.sessionmaker() as session:
        fb = await session.get(Feedback, fid)
        assert fb.status == "rejected"
        events = (await session.execute(select(FeedbackEvent))).scalars().all()
        assert [(e.status, e.staff_id, e.actor) for e in events] == [
            ("received", staff.id, f"staff:{staff.name}"),
            ("received", staff.id, f"staff:{staff.name}"),
            ("in_progress", staff.id, f"staff:{staff.name}"),
            ("rejected", staff.id, f"staff:{staff.name}"),
        ]
    actions = await audit_actions(services)
    assert [a for a, _t, _d in actions] == [
        "feedback.reply",
        "feedback.reply",
        "feedback.status",
        "feedback.status",
    ]
    assert actions[-1][1] == f"feedback:{code}"
    assert actions[-1][2] == {
        "from": "in_progress",
        "to": "rejected",
        "reply": False,
        "notified": True,
    }
    status, html = await get(client, detail)
    assert "Lý do: Ngoài phạm vi của xã" in html and "Trả lời: Xã sẽ cử người xem" in html
    # no CSRF token: refused
    response = await client.post(f"{detail}/status", data={"status": "resolved"})
    assert response.status == 403


async def test_an_erased_citizen_is_not_written_to(
    staff_client, make_staff, login, services, post_form
):
    fid, _code = await make_feedback(services, None)
    client = await login(staff_client, await make_staff("admin"))
    detail = f"/staff/feedback/{fid}"
    response = await post_form(client, f"{detail}/status", {"status": "resolved"}, detail)
    assert response.headers["Location"] == f"{detail}?done=unsent"
    status, html = await get(client, detail, done="unsent")
    assert "không nhắn được cho người phản ánh" in html


async def test_assignment_and_a_commune_accounts_view(
    new_client, staff_client, make_staff, login, services, post_form, assert_refused
):
    citizen = await make_user(services)
    ref = store_photo(services, jpeg_bytes("green"))
    mine, _ = await make_feedback(services, citizen, photo_ref=ref, latitude=14.6, longitude=108.7)
    other, _ = await make_feedback(services, citizen)
    province = await login(staff_client, await make_staff("province"))
    commune_account = await make_staff("commune", BA_DONG)
    commune = await login(await new_client(), commune_account)
    # nothing has an area yet: the commune account sees nothing
    assert ids_in((await get(commune, "/staff/feedback"))[1]) == []
    await assert_refused(commune, "GET", f"/staff/feedback/{mine}")
    await assert_refused(commune, "GET", f"/staff/feedback/{mine}/photo")
    # the province gives one to the commune account: it gets the commune's area
    detail = f"/staff/feedback/{mine}"
    response = await post_form(
        province, f"{detail}/assign", {"account": str(commune_account.id)}, detail
    )
    assert response.headers["Location"] == f"{detail}?done=assigned"
    async with services.sessionmaker() as session:
        fb = await session.get(Feedback, mine)
        assert (fb.assigned_to, fb.area_code) == (commune_account.id, BA_DONG)
    status, html = await get(commune, "/staff/feedback")
    assert ids_in(html) == [mine]
    assert ids_in((await get(commune, "/staff/feedback", assigned="me"))[1]) == [mine]
    status, html = await get(commune, detail)
    assert status == 200 and "openstreetmap.org/?mlat=14.600000" in html
    photo = await commune.get(f"{detail}/photo")
    assert photo.status == 200 and await photo.read() == jpeg_bytes("green")
    await assert_refused(commune, "GET", f"/staff/feedback/{other}")
    await assert_refused(commune, "GET", "/staff/feedback", params={"area": BA_TO})
    response = await post_form(commune, f"/staff/feedback/{other}/status", {"status": "resolved"})
    assert response.status == 403
    # a commune account takes work itself, never gives it to others
    response = await post_form(commune, f"{detail}/assign", {"account": ""}, detail)
    assert response.status == 403
    response = await post_form(commune, f"{detail}/assign", {"account": "me"}, detail)
    assert response.status == 303
    # bad assignments: an unknown account, text
    for value in ("999999", "admin"):
        response = await post_form(province, f"{detail}/assign", {"account": value}, detail)
        assert response.status == 400
    response = await post_form(province, f"{detail}/assign", {"account": ""}, detail)
    async with services.sessionmaker() as session:
        fb = await session.get(Feedback, mine)
        assert fb.assigned_to is None and fb.area_code == BA_DONG  # the area stays
    assert [a for a, _t, _d in await audit_actions(services)] == ["feedback.assign"] * 3
