"""The reminder before a training: to those who answered "Tôi sẽ tham gia", once.

A job `serve` runs (like the forms' reminders): every `notices.check_interval_seconds` it looks
for notices with RSVP whose training starts within `notices.remind_hours_before` (24: the day
before) and has not started yet, and queues one outbox row per yes-answer not reminded yet. The
answers are taken and marked reminded in one UPDATE (`notices.claim_reminders`) in the same
transaction as their outbox rows, so a person is reminded once even with several processes on
one PostgreSQL, and a crash before the commit leaves them to the next pass. Who said no, or
changed their answer to no, is not reminded. The same pass brings the notices' own states up to
date (scheduled -> sending -> done).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.messages import Reply
from bot.notices import compose as composing
from bot.notices import manage
from bot.storage.gate import writing
from bot.storage.models import Notice
from bot.storage.repositories import notices as repo
from bot.storage.repositories import outbox
from bot.tasks import stop_task

if TYPE_CHECKING:
    from bot.core.services import Services

log = logging.getLogger("bot.notices")
SOURCE = "reminder"


def reminder(notice: Notice, lang: str, t) -> Reply:
    """The reminder as one language sees it: the title, when, where, the link."""
    full = composing.render(notice, lang, t)
    lines = full.text.split("\n")
    title = lines[0] if lines else ""
    shown = [t._("Nhắc lịch: bạn đã nhận lời tham gia.")]
    details = notice.details or {}
    when = " ".join(
        x for x in (composing._format_date(details.get("date", "")), details.get("time", "")) if x
    )
    if when:
        shown.append(t._("Thời gian: {when}").format(when=when))
    if details.get("place"):
        shown.append(t._("Địa điểm: {place}").format(place=details["place"]))
    if details.get("link"):
        shown.append(t._("Họp trực tuyến: {link}").format(link=details["link"]))
    if details.get("contact"):
        shown.append(t._("Liên hệ: {contact}").format(contact=details["contact"]))
    return Reply(text="\n".join([title, "", *shown]))


async def sweep(services: Services, now: datetime | None = None) -> int:
    """One pass: reminders queued (how many), notice states brought up to date."""
    now = now or datetime.now(UTC)
    cfg = services.settings.notices
    before = now + timedelta(hours=cfg.remind_hours_before)
    async with services.sessionmaker() as s:
        due = [n.id for n in await repo.reminders_due(s, before, now)]
        open_ids = [n.id for n in await repo.open_notices(s)]
    queued = 0
    tr = services.catalogs.for_lang
    for notice_id in due:
        while True:
            async with writing(services.sessionmaker) as s:
                notice = await repo.get(s, notice_id)
                if notice is None or notice.status == repo.CANCELLED:
                    break
                taken = await repo.claim_reminders(s, notice_id)
                replies: dict[str, Reply] = {}
                rows = []
                for user_id, channel, external_id, lang in taken:
                    if lang not in replies:
                        replies[lang] = reminder(notice, lang, tr(lang))
                    rows.append(
                        {
                            "channel": channel,
                            "recipient": external_id,
                            "user_id": user_id,
                            "reply": replies[lang],
                            "source": SOURCE,
                            "notice_id": None,
                            "priority": notice.priority,
                            "use_quota": notice.use_quota,
                        }
                    )
                if rows:
                    await outbox.add_many(s, rows)
                await s.commit()
                queued += len(rows)
                if not taken:
                    break
    for notice_id in open_ids:
        async with writing(services.sessionmaker) as s:
            await manage.progress(s, notice_id, now)
            await s.commit()
    return queued


class NoticeJobs:
    """The job `serve` runs: `sweep` every `notices.check_interval_seconds`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.passes = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                queued = await sweep(self.services)
                self.passes += 1
                if queued:
                    log.info("notices: %d reminders queued", queued)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: next time
                log.warning("notices: reminder job failed (%s)", type(exc).__name__)
            await asyncio.sleep(self.services.settings.notices.check_interval_seconds)
