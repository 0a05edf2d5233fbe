"""Citizens' feedback through the whole pipeline (SQLite and PostgreSQL): consent first, the form,
the tracking code (short, unambiguous, unique), the status by `/theodoi` or the code alone (the
owner also sees what they wrote), wrong codes limited per person, and staff-side status changes
(`feedback set-status`: the event recorded, the citizen's notice queued in their language)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.feedback import tracking
from bot.reports.cli import set_status
from bot.storage.models import Feedback, FeedbackEvent, OutboxEntry, User
from bot.storage.repositories import feedback as repo
from tests.reports.conftest import say

CODE_RE = re.compile(r"Mã theo dõi: ([A-Z0-9]{4}-[A-Z0-9]{4})")


async def file_feedback(pipeline, sender: str, phone: str | None = None, lang: str = "vi") -> str:
    said, buttons = await say(pipeline, sender, "/phananh", lang=lang)
    if "/consent yes" in buttons:
        said, buttons = await say(pipeline, sender, payload="/consent yes")
    assert "Bạn muốn phản ánh về việc gì?" in said or buttons, said
    said, _ = await say(pipeline, sender, payload=buttons[0])
    said, _ = await say(pipeline, sender, "Đường vào thôn bị sạt lở sau mưa")
    said, _ = await say(pipeline, sender, "bỏ qua")  # photo
    said, _ = await say(pipeline, sender, "bỏ qua")  # location
    said, _ = await say(pipeline, sender, phone or "bỏ qua")
    assert "Gửi đi, sửa một mục, hay hủy?" in said, said
    done, _ = await say(pipeline, sender, "gửi")
    m = CODE_RE.search(done)
    assert m, done
    return m.group(1)


async def one(services, model, *where):
    async with services.sessionmaker() as s:
        return (await s.execute(select(model).where(*where))).scalars().all()


def test_codes_are_short_unambiguous_and_never_a_word():
    codes = {tracking.new_code() for _ in range(3000)}
    assert len(codes) == 3000
    for c in codes:
        assert len(c) == 8 and not set(c) & set("0O1IL")
        assert any(x.isdigit() for x in c) and any(x.isalpha() for x in c)
        assert tracking.normalize(tracking.show(c)) == c
        assert tracking.normalize(tracking.show(c).lower()) == c
    for text in ("XINCHAOB", "23456789", "K7QF-9XP0", "K7QF-9XPAA", "hello", "", "K7QF 9XPA extra"):
        assert tracking.normalize(text) is None
    # Eight letters over several words are a message, not a code ("thế dự án 7 thì sao").
    for text in ("the du an 7", "ba to 2 ha", "k7 qf 9x pa"):
        assert tracking.normalize(text) is None
    assert tracking.normalize(" k7qf - 9xpa ") == "K7QF9XPA"


async def test_a_taken_code_is_drawn_again(services):
    draws = iter(["K7QF9XPA", "K7QF9XPA", "M3RT8WZB"])
    async with services.sessionmaker() as s:
        a = await repo.add_feedback(
            s, lambda: next(draws), channel="web", category="khac", description="abc de"
        )
        b = await repo.add_feedback(
            s, lambda: next(draws), channel="web", category="khac", description="abc de"
        )
        await s.commit()
    assert (a.code, b.code) == ("K7QF9XPA", "M3RT8WZB")


async def test_feedback_needs_consent_and_is_filed_with_a_code(pipeline, services):
    said, buttons = await say(pipeline, "c1", "/phananh")
    assert "Bạn có đồng ý không?" in said and "/consent yes" in buttons
    code = await file_feedback(pipeline, "c1", phone="0905 123 456")
    [fb] = await one(services, Feedback)
    assert tracking.show(fb.code) == code and fb.status == "submitted"
    assert (fb.phone, fb.photo_ref, fb.latitude, fb.channel) == ("0905123456", None, None, "web")
    [uid] = [u.id for u in await one(services, User, User.external_id == "c1")]
    assert fb.user_id == uid


async def test_no_phone_is_stored_when_none_is_given_and_a_wrong_one_is_explained(
    pipeline, services
):
    said, buttons = await say(pipeline, "c1", "/phananh")
    said, buttons = await say(pipeline, "c1", payload="/consent yes")
    for step in (buttons[0],):
        await say(pipeline, "c1", payload=step)
    for typed in ("Đường vào thôn bị sạt lở sau mưa", "bỏ qua", "bỏ qua"):
        said, _ = await say(pipeline, "c1", typed)
    said, _ = await say(pipeline, "c1", "12345")
    assert "Số điện thoại liên hệ" in said or "số điện thoại" in said.lower()
    assert "Gửi đi, sửa một mục" not in said
    said, _ = await say(pipeline, "c1", "bỏ qua")
    await say(pipeline, "c1", "gửi")
    [fb] = await one(services, Feedback)
    assert fb.phone is None


async def test_the_status_by_code_owner_sees_more(pipeline, services):
    code = await file_feedback(pipeline, "c1")
    for typed in (code, code.lower().replace("-", ""), f"/theodoi {code}"):
        said, _ = await say(pipeline, "c1", typed)
        assert f"Phản ánh {code}" in said and "Tình trạng: đã gửi, chờ tiếp nhận." in said
        assert "Nội dung bạn gửi: Đường vào thôn bị sạt lở sau mưa" in said
    said, _ = await say(pipeline, "other", code)  # the code is the credential: not the text
    assert "Tình trạng: đã gửi, chờ tiếp nhận." in said and "Nội dung bạn gửi" not in said
    said, _ = await say(pipeline, "c1", "/theodoi")
    assert "Gõ /theodoi và mã theo dõi" in said


async def test_wrong_codes_are_limited_per_person(pipeline, services):
    code = await file_feedback(pipeline, "c1")
    for i in range(tracking.MAX_WRONG_TRIES):
        said, _ = await say(pipeline, "guesser", f"/theodoi {tracking.show(tracking.new_code())}")
        assert "Không có phản ánh nào mang mã" in said, (i, said)
    said, _ = await say(pipeline, "guesser", code)  # even the right code now waits
    assert "Bạn đã nhập sai mã nhiều lần" in said and "Tình trạng" not in said
    said, _ = await say(pipeline, "c1", code)  # another person is not limited
    assert "Tình trạng: đã gửi" in said


async def test_set_status_records_and_tells_the_citizen_in_their_language(pipeline, services):
    code = await file_feedback(pipeline, "c1")
    async with services.sessionmaker() as s:
        with pytest.raises(ValueError, match="reason"):
            await set_status(s, services.catalogs.for_lang, code, "rejected")
        with pytest.raises(ValueError, match="status"):
            await set_status(s, services.catalogs.for_lang, code, "done")
        with pytest.raises(ValueError, match="no feedback"):
            await set_status(s, services.catalogs.for_lang, "K7QF-9XPA", "received")
        message, row = await set_status(
            s, services.catalogs.for_lang, code, "rejected", reason="Ngoài phạm vi xã"
        )
        await s.commit()
    assert row is not None and f"{code}: rejected" in message
    [event] = await one(services, FeedbackEvent)
    assert (event.status, event.reason, event.actor) == ("rejected", "Ngoài phạm vi xã", "cli")
    [fb] = await one(services, Feedback)
    assert fb.status == "rejected"
    [out] = await one(services, OutboxEntry, OutboxEntry.id == row)
    assert (out.channel, out.recipient, out.source) == ("web", "c1", "feedback")
    text = out.payload["text"]
    assert f"Phản ánh {code} của bạn: không giải quyết được." in text
    assert "Lý do: Ngoài phạm vi xã" in text
    said, _ = await say(pipeline, "c1", code)
    assert "Tình trạng: không giải quyết được." in said and "Lý do: Ngoài phạm vi xã" in said


async def test_a_reply_alone_and_an_unchanged_status(pipeline, services):
    code = await file_feedback(pipeline, "c1")
    async with services.sessionmaker() as s:
        await set_status(s, services.catalogs.for_lang, code, "received")
        with pytest.raises(ValueError, match="nothing to tell"):
            await set_status(s, services.catalogs.for_lang, code, "received")
        _msg, row = await set_status(
            s, services.catalogs.for_lang, code, "received", reply="Chiều nay cán bộ tới"
        )
        await s.commit()
    [out] = await one(services, OutboxEntry, OutboxEntry.id == row)
    assert "Cán bộ trả lời: Chiều nay cán bộ tới" in out.payload["text"]


async def test_a_subscribers_feedback_carries_their_commune_for_its_staff(pipeline, services):
    """A citizen who chose their commune for notices files feedback: it is filed under that
    commune (so the commune's staff see it on the dashboard); one who did not: no area."""
    from bot.storage.models import Subscription

    await file_feedback(pipeline, "c-sub")
    await file_feedback(pipeline, "c-none")
    async with services.sessionmaker() as s:
        [user] = (await s.execute(select(User).where(User.external_id == "c-sub"))).scalars()
        s.add(Subscription(user_id=user.id, channel="web", active=True, area_code="qng.ba_dong"))
        await s.commit()
    await file_feedback(pipeline, "c-sub")
    areas = {
        (u, a)
        for u, a in (await _rows(services, select(User.external_id, Feedback.area_code).join(User)))
    }
    assert areas == {("c-sub", None), ("c-none", None), ("c-sub", "qng.ba_dong")}


async def _rows(services, query):
    async with services.sessionmaker() as s:
        return (await s.execute(query)).all()
