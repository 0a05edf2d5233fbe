"""A notice after it was composed: its progress, cancelling it, and a subscriber's changes.

- `progress`: the notice's outbox rows counted by state and reason (`outbox.notice_states`),
  the RSVP counts, and the notice's own state brought up to date (scheduled -> sending once its
  time came, -> done once nothing is left to send);
- `cancel`: its queued rows fail with reason "cancelled" (what has not been sent is not sent;
  a row being sent at that moment finishes);
- `refresh_user`: a subscriber subscribed, stopped, or changed area or topics: the notices still
  going out are matched against them again, with the same query that chose the recipients
  (`notices.reaches`): a notice that now reaches them gets their row, one that no longer does
  has their queued row dropped (reason "unsubscribed"), and a queued row is written again in
  their current language. So a change takes effect before the next send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.notices import compose as composing
from bot.notices import model
from bot.storage.models import Notice, OutboxEntry, User
from bot.storage.repositories import notices as repo
from bot.storage.repositories import outbox

if TYPE_CHECKING:
    from bot.config import Settings

SENT_STATES = ("sent", "delivered", "read")
UNSUBSCRIBED = "unsubscribed"


@dataclass
class Progress:
    notice: Notice
    states: dict[tuple[str, str | None], int]
    rsvp: dict[str, int]

    def _count(self, *statuses: str) -> int:
        return sum(n for (s, _r), n in self.states.items() if s in statuses)

    @property
    def sent(self) -> int:
        return self._count(*SENT_STATES)

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def remaining(self) -> int:
        return self._count("queued", "sending")

    @property
    def total(self) -> int:
        return sum(self.states.values())

    def failed_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (status, reason), n in self.states.items():
            if status == "failed":
                out[reason or "other"] = out.get(reason or "other", 0) + n
        return out

    def by_state(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (status, _reason), n in self.states.items():
            out[status] = out.get(status, 0) + n
        return out

    def as_json(self) -> dict:
        n = self.notice
        return {
            "id": n.id,
            "status": n.status,
            "recipients": n.recipients,
            "sent": self.sent,
            "failed": self.failed,
            "remaining": self.remaining,
            "by_state": self.by_state(),
            "failed_by_reason": self.failed_by_reason(),
            "rsvp": self.rsvp,
            "send_at": n.send_at.isoformat(),
        }


async def progress(
    session: AsyncSession, notice_id: int, now: datetime | None = None
) -> Progress | None:
    """The notice's counts, its state brought up to date (not committed). None: no such notice."""
    notice = await repo.get(session, notice_id)
    if notice is None:
        return None
    now = now or datetime.now(UTC)
    states = await outbox.notice_states(session, notice_id)
    got = Progress(notice, states, await repo.rsvp_counts(session, notice_id))
    if notice.status == repo.SCHEDULED and notice.send_at <= now:
        notice.status = repo.SENDING
    if notice.status == repo.SENDING and got.remaining == 0:
        notice.status, notice.finished_at = repo.DONE, now
    return got


async def cancel(
    session: AsyncSession, notice_id: int, now: datetime | None = None
) -> tuple[Notice | None, int]:
    """Cancel a scheduled or running notice: (the notice, rows that will not go). A notice
    already done or cancelled is left as it is (0). Does not commit."""
    notice = await repo.get(session, notice_id)
    if notice is None or notice.status in (repo.DONE, repo.CANCELLED):
        return notice, 0
    dropped = await outbox.cancel_notice(session, notice_id)
    notice.status, notice.cancelled_at = repo.CANCELLED, now or datetime.now(UTC)
    return notice, dropped


def targets_of(notice: Notice) -> repo.Targets:
    return repo.Targets.of(notice, urgent=(notice.priority or 0) >= model.URGENT_PRIORITY)


async def refresh_user(
    session: AsyncSession,
    user_id: int,
    settings: Settings | None = None,
    translators: composing.Translators | None = None,
) -> tuple[int, int]:
    """Apply a subscriber's change to the notices still going out: (rows added, rows
    dropped). Does not commit (inside a turn, the pipeline commits it with the change)."""
    await session.flush()  # the change itself, seen by the query
    open_notices = await repo.open_notices(session)
    if not open_notices:
        return 0, 0
    user = await session.get(User, user_id)
    if user is None:
        return 0, 0
    rows = await repo.user_rows(session, user_id)
    channels = composing.channels_of(settings)
    tr = composing._translators(settings, translators)
    lang = user.locale or "vi"
    added, drop = [], []
    for notice in open_notices:
        matches = await repo.reaches(session, targets_of(notice), channels, user_id)
        has = rows.get(notice.id)
        if matches and has is None:
            added.append(
                {
                    "channel": user.channel,
                    "recipient": user.external_id,
                    "user_id": user.id,
                    "reply": composing.render(notice, lang, tr(lang)),
                    "source": composing.SOURCE,
                    "notice_id": notice.id,
                    "priority": notice.priority,
                    "use_quota": notice.use_quota,
                    "due_at": notice.send_at,
                }
            )
            notice.recipients += 1
        elif matches and has == "queued":
            reply = composing.render(notice, lang, tr(lang))  # in the language chosen now
            await session.execute(
                update(OutboxEntry)
                .where(
                    OutboxEntry.user_id == user_id,
                    OutboxEntry.notice_id == notice.id,
                    OutboxEntry.status == "queued",
                )
                .values(payload=reply.as_dict())
                .execution_options(synchronize_session=False)
            )
        elif not matches and has == "queued":
            drop.append(notice.id)
    if added:
        await outbox.add_many(session, added)
    dropped = await repo.drop_user_rows(session, user_id, UNSUBSCRIBED, drop) if drop else 0
    return len(added), dropped
