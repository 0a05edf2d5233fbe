"""RSVP answers counted (the latest counts, only from those the notice was sent to), the
reminder to those who said yes only and once, and the attendee list read back as text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.notices import attendees, reminders
from bot.notices import compose as composing
from bot.notices.model import Draft, zone
from bot.storage.models import OutboxEntry, User
from bot.storage.repositories import notices as repo
from tests.conftest import all_text, message
from tests.notices.conftest import person

COMMUNE = "qng.ba_dong"


async def training(services, starts: datetime, **kw):
    local = starts.astimezone(zone(services.settings.timezone))
    async with services.sessionmaker() as s:
        people = [await person(s, area=COMMUNE, external_id=f"r{i}") for i in range(4)]
        made = await composing.compose(
            s,
            Draft(
                title={"vi": "Tập huấn nuôi bò"},
                body={"vi": "Mời bà con."},
                areas=[COMMUNE],
                rsvp=True,
                details={
                    "date": local.strftime("%d/%m/%Y"),
                    "time": local.strftime("%H:%M"),
                    "place": "Nhà văn hóa thôn",
                },
                **kw,
            ),
            settings=services.settings,
        )
        await s.commit()
    return made.notice.id, people


async def answer(pipeline, sender: str, nid: int, yes: bool) -> str:
    turn = await pipeline.handle(
        message(payload=f"/rsvp {nid} {'yes' if yes else 'no'}", sender=sender, channel="telegram")
    )
    return all_text(turn)


async def reminder_rows(services) -> list[str]:
    async with services.sessionmaker() as s:
        return list(
            (
                await s.execute(
                    select(OutboxEntry.recipient)
                    .where(OutboxEntry.source == reminders.SOURCE)
                    .order_by(OutboxEntry.recipient)
                )
            ).scalars()
        )


async def test_answers_counted_and_the_reminder_goes_to_yes_once(pipeline, services):
    starts = datetime.now(UTC) + timedelta(hours=30)
    nid, _people = await training(services, starts)
    assert "Đã ghi bạn sẽ tham gia: Tập huấn nuôi bò." in await answer(pipeline, "r0", nid, True)
    assert "Đã ghi bạn không tham gia" in await answer(pipeline, "r1", nid, False)
    await answer(pipeline, "r2", nid, True)
    await answer(pipeline, "r2", nid, False)  # changed their mind: the latest counts
    await answer(pipeline, "r3", nid, True)
    await answer(pipeline, "r3", nid, True)  # pressed twice: one answer
    stranger = await answer(pipeline, "nobody", nid, True)  # the notice was not sent to them
    assert "Thông báo này không hỏi bạn" in stranger
    async with services.sessionmaker() as s:
        assert await repo.rsvp_counts(s, nid) == {"yes": 2, "no": 2}
    # 30 hours before: not yet (the reminder is the day before)
    assert await reminders.sweep(services) == 0
    assert await reminder_rows(services) == []
    later = datetime.now(UTC) + timedelta(hours=8)  # 22 hours before the start
    assert await reminders.sweep(services, now=later) == 2
    assert await reminder_rows(services) == ["r0", "r3"]
    assert await reminders.sweep(services, now=later + timedelta(minutes=5)) == 0  # once
    assert await reminder_rows(services) == ["r0", "r3"]
    async with services.sessionmaker() as s:
        text = (
            (
                await s.execute(
                    select(OutboxEntry.payload).where(OutboxEntry.source == reminders.SOURCE)
                )
            )
            .scalars()
            .first()["text"]
        )
    assert "Nhắc lịch" in text and "Tập huấn nuôi bò" in text and "Nhà văn hóa thôn" in text


async def test_no_answer_after_it_took_place_or_when_cancelled(pipeline, services):
    nid, _ = await training(services, datetime.now(UTC) + timedelta(hours=5))
    async with services.sessionmaker() as s:
        notice = await repo.get(s, nid)
        notice.event_at = datetime.now(UTC) - timedelta(minutes=1)
        await s.commit()
    assert "đã diễn ra rồi" in await answer(pipeline, "r0", nid, True)
    from bot.notices import manage

    async with services.sessionmaker() as s:
        (await repo.get(s, nid)).event_at = datetime.now(UTC) + timedelta(hours=5)
        await manage.cancel(s, nid)
        await s.commit()
    assert "đã được hủy" in await answer(pipeline, "r1", nid, True)
    assert await reminders.sweep(services) == 0


async def test_attendees_csv_read_back_shows_text_not_formulas(pipeline, services):
    nid, people = await training(services, datetime.now(UTC) + timedelta(hours=30))
    async with services.sessionmaker() as s:
        for u, name in zip(
            people, ['=HYPERLINK("http://x")', "+84 905", "Đinh Văn A", "@b"], strict=True
        ):
            (await s.get(User, u.id)).display_name = name
        await s.commit()
    for u in people[:3]:
        await answer(pipeline, u.external_id, nid, True)
    await answer(pipeline, people[3].external_id, nid, False)
    async with services.sessionmaker() as s:
        n, text = await attendees.export(s, nid, "csv", zone("Asia/Ho_Chi_Minh"), None)
    assert n == 3 and text.startswith("\ufeff")
    got = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert got[0] == list(attendees.HEADER)
    names = [row[3] for row in got[1:]]
    assert names == ['\'=HYPERLINK("http://x")', "'+84 905", "Đinh Văn A"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in got[1:] for cell in row)


async def test_attendees_xlsx_cells_are_text(pipeline, services, tmp_path):
    from openpyxl import load_workbook

    nid, people = await training(services, datetime.now(UTC) + timedelta(hours=30))
    async with services.sessionmaker() as s:
        (await s.get(User, people[0].id)).display_name = "=1+1"
        await s.commit()
    await answer(pipeline, people[0].external_id, nid, True)
    out = tmp_path / "a.xlsx"
    async with services.sessionmaker() as s:
        n, _ = await attendees.export(s, nid, "xlsx", zone("Asia/Ho_Chi_Minh"), out)
    sheet = load_workbook(out).active
    rows = list(sheet.iter_rows(values_only=True))
    assert n == 1 and rows[1][3] == "'=1+1" and sheet.cell(2, 4).data_type == "s"
