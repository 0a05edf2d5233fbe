"""The dashboard's translations page, on SQLite and PostgreSQL: coverage per language, a
translator's draft listened to (an <audio> element, the file served to logged-in staff only),
approved or sent back with a comment (an audit entry; the translator told in the chat), and
the coverage changing with the approval."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import select

from bot.storage.models import AuditEntry, OutboxEntry, Recording
from bot.voice.store import VoiceStore
from tests.conftest import message
from tests.voice.conftest import join_translator, tone, voice_message

HOUSING = "ho tro lam nha bao nhieu tien"


@pytest.fixture
def settings(settings, tmp_path):
    """Recordings in the test's own folder."""
    voice = dataclasses.replace(settings.voice, dir=str(tmp_path / "voice"))
    return dataclasses.replace(settings, voice=voice)


async def a_draft(pipeline, services, settings) -> Recording:
    await join_translator(pipeline, services, "tr-a")
    await pipeline.handle(message(payload="/lang hre", sender="v1"))
    for _ in range(2):
        await pipeline.handle(message(HOUSING, sender="v1"))
    await pipeline.handle(message("/dich", sender="tr-a"))
    await pipeline.handle(voice_message(settings, tone(1, "ogg"), "tr-a"))
    await pipeline.handle(message("[hre test text]", sender="tr-a"))
    async with services.sessionmaker() as s:
        return (await s.execute(select(Recording))).scalar_one()


def cells(page: str, lang: str) -> dict[str, str]:
    row = re.search(rf'<tr id="lang-{lang}">(.*?)</tr>', page, re.S).group(1)
    return dict(re.findall(r'<td class="(\w+)">([^<]*)</td>', row))


async def test_coverage_listen_and_review(
    pipeline,
    services,
    settings,
    staff_client,
    new_client,
    make_staff,
    login,
    post_form,
    assert_refused,
) -> None:
    rec = await a_draft(pipeline, services, settings)
    admin = await login(staff_client, await make_staff("admin"))
    page = await (await admin.get("/staff/translations")).text()
    assert cells(page, "hre")["audio"].startswith("0/") and cells(page, "hre")["drafts"] == "1"
    listing = await (await admin.get("/staff/translations?lang=hre")).text()
    assert (
        f'<audio controls preload="none" src="/staff/translations/{rec.id}/audio.m4a">' in listing
    )
    assert "Bản chữ: [hre test text]" in listing and "Người dịch hre-" in listing
    assert "tr-a" not in listing  # the translator's label, never their chat id
    housing = services.content.by_id()["support.housing"].title_for("vi")
    first_gap = re.search(r'<table id="gaps">.*?<tbody>\s*<tr>(.*?)</tr>', listing, re.S).group(1)
    assert f"<td>{housing}</td><td>2</td>" in first_gap  # asked twice: the first gap

    audio = await admin.get(f"/staff/translations/{rec.id}/audio.m4a")
    assert audio.status == 200 and audio.headers["Cache-Control"] == "private, no-store"
    store = VoiceStore(settings.path(settings.voice.dir))
    assert await audio.read() == store.path(rec.audio, "m4a").read_bytes()
    anonymous = await new_client()
    got = await anonymous.get(f"/staff/translations/{rec.id}/audio.m4a", allow_redirects=False)
    assert got.status in (302, 303, 401)
    assert (await anonymous.get(f"/voice/{rec.audio}.m4a")).status == 404  # a draft

    commune = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
    assert (await commune.get("/staff/translations")).status == 200  # sees the coverage
    await assert_refused(commune, "POST", f"/staff/translations/{rec.id}/review")

    bad = await post_form(admin, f"/staff/translations/{rec.id}/review", {"verdict": "sent_back"})
    assert bad.status == 400 and "Trả lại cần lời nhắn" in await bad.text()
    done = await post_form(admin, f"/staff/translations/{rec.id}/review", {"verdict": "approved"})
    assert done.status == 303
    async with services.sessionmaker() as s:
        approved = (await s.execute(select(Recording))).scalar_one()
        entries = (await s.execute(select(AuditEntry.action, AuditEntry.target))).all()
        told = (await s.execute(select(OutboxEntry).where(OutboxEntry.source == "voice"))).all()
    assert approved.status == "approved" and approved.reviewed_label.startswith("staff:")
    assert ("translation.approved", f"recording:{rec.id}") in [tuple(e) for e in entries]
    assert len(told) == 1
    page = await (await admin.get("/staff/translations")).text()
    assert cells(page, "hre")["audio"].startswith("1/") and cells(page, "hre")["drafts"] == "0"
    listing = await (await admin.get("/staff/translations?lang=hre")).text()
    assert f"<td>{housing}</td>" not in listing  # no longer a gap
    again = await post_form(admin, f"/staff/translations/{rec.id}/review", {"verdict": "approved"})
    assert again.status == 409
    assert (await anonymous.get(f"/voice/{rec.audio}.m4a")).status == 200  # now published
    heard = await pipeline.handle(message(HOUSING, sender="v1"))
    assert [r.voice for r in heard.replies if r.voice] == [f"voice/{rec.audio}"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_review_on_a_phone(pipeline, services, settings, staff_server, make_staff, phone):
    """360 px wide: the coverage table and a draft's player fit the screen, the recording
    loads in the <audio> element under the Content-Security-Policy, approving it works."""
    from tests.staff.conftest import screenshot_path

    rec = await a_draft(pipeline, services, settings)
    admin = await make_staff("admin")
    await phone.goto(str(staff_server.make_url("/staff/login")))
    await phone.fill("#name", admin.name)
    await phone.fill("#password", admin.password)
    await phone.click("button[type=submit]")
    await phone.goto(str(staff_server.make_url("/staff/translations?lang=hre")))
    duration = await phone.locator(f"#draft-{rec.id} audio").evaluate(
        """a => new Promise((ok, fail) => {
            a.addEventListener("loadedmetadata", () => ok(a.duration));
            a.addEventListener("error", () => fail("cannot load: " + a.error.code));
            a.preload = "metadata"; a.load();
        })"""
    )
    assert 0.8 <= duration <= 1.3
    wide = await phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= 360, wide
    await phone.screenshot(path=screenshot_path("staff-translations-phone.png"), full_page=True)
    await phone.locator(f"#draft-{rec.id} button", has_text="Duyệt").click()
    await phone.get_by_role("status").get_by_text("Đã duyệt").wait_for()
    assert phone.errors == [] and phone.outside == []
