"""An abandoned form is reminded once after forms.remind_after_minutes, then expires after
forms.expire_after_hours; the messages go through the outbox; an answer meanwhile wins."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from sqlalchemy import select

from bot.flows.forms.reminders import FormJobs, sweep
from bot.messages import Reply
from bot.storage.models import OutboxEntry
from tests.flows.forms.test_engine import state_of

MINUTE, HOUR = 60, 3600


async def job_rows(services, sender: str) -> list[Reply]:
    async with services.sessionmaker() as s:
        rows = (
            await s.execute(
                select(OutboxEntry)
                .where(OutboxEntry.recipient == sender, OutboxEntry.source == "form")
                .order_by(OutboxEntry.id)
            )
        ).scalars()
        return [Reply.from_dict(r.payload) for r in rows]


async def test_reminded_once_then_expired(chat, form_services):
    await chat.start("types", name="An")
    t0 = time.time()
    assert await sweep(form_services, now=t0 + 59 * MINUTE) == type(await sweep(form_services))()
    swept = await sweep(form_services, now=t0 + 61 * MINUTE)
    assert (swept.reminded, swept.expired) == (1, 0)
    [reminder] = await job_rows(form_services, chat.sender)
    assert "Bạn chưa điền xong Phiếu thử." in reminder.text and "Bao nhiêu hộ?" in reminder.text
    assert [b.payload for b in reminder.buttons] == ["/form back", "/form cancel"]
    state = await state_of(form_services, chat.sender)
    assert state["step"] == "households" and state["data"]["reminded"] is True
    again = await sweep(form_services, now=t0 + 120 * MINUTE)
    assert (again.reminded, again.expired) == (0, 0)  # once
    swept = await sweep(form_services, now=t0 + 25 * HOUR)
    assert (swept.reminded, swept.expired) == (0, 1)
    expired = (await job_rows(form_services, chat.sender))[-1]
    assert "Phiếu thử bạn đang điền đã hết hạn" in expired.text
    assert await state_of(form_services, chat.sender) == {}
    await chat("12")  # the form is gone: 12 is a new message, not an answer
    assert chat.submitted() == []


async def test_an_answer_after_the_reminder_continues_and_a_new_pause_is_reminded_again(
    chat, form_services
):
    await chat.start("types", name="An")
    await sweep(form_services, now=time.time() + 61 * MINUTE)
    await chat("12")
    state = await state_of(form_services, chat.sender)
    assert state["step"] == "amount" and state["data"]["reminded"] is False
    assert state["data"]["answers"] == {"name": "An", "households": 12}
    swept = await sweep(form_services, now=time.time() + 61 * MINUTE)
    assert swept.reminded == 1
    assert "Bao nhiêu tiền?" in (await job_rows(form_services, chat.sender))[-1].text


async def test_the_summary_is_reminded_with_its_buttons(chat, form_services):
    await chat.start("nohandler", name="An")
    await sweep(form_services, now=time.time() + 61 * MINUTE)
    [reminder] = await job_rows(form_services, chat.sender)
    assert "- Tên?: An" in reminder.text or "An" in reminder.text
    assert "/form confirm" in [b.payload for b in reminder.buttons]


async def test_the_job_runs_from_serve_settings(chat, form_services):
    forms = dataclasses.replace(
        form_services.settings.forms, remind_after_minutes=0.0001, check_interval_seconds=0.05
    )
    services = dataclasses.replace(
        form_services, settings=dataclasses.replace(form_services.settings, forms=forms)
    )
    await chat.start("types", name="An")
    jobs = FormJobs(services)
    jobs.start()
    try:
        async with asyncio.timeout(10):
            while not await job_rows(services, chat.sender):
                await asyncio.sleep(0.05)
    finally:
        await jobs.stop()
    assert jobs.passes >= 1
    assert len(await job_rows(services, chat.sender)) == 1
