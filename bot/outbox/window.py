"""Zalo OA's reply window and monthly proactive quota, decided before a row is sent.

Zalo OA (its support centre): a consultation message (what the bot sends as a reply) is free up
to `messages` messages within `hours` hours of the user's last message to the OA; anything else
is a proactive message, of which the OA gets a monthly quota. The dispatcher asks `decide(row)`
before each Zalo send:

- inside the window, with messages left in it: send as usual (a consultation message);
- outside it, and the row's notice is marked to use the quota (`use_quota`): take one unit of
  the month's quota (an atomic increment under the limit, shared by every dispatcher) and send
  it (the same API call: Zalo counts a message past the window as proactive); none left: the
  row fails with reason "quota_spent";
- outside it otherwise: the row fails with reason "outside_window", so staff see how many were
  out of reach and why.

The window starts at the user's last message (`users.last_seen_at`, touched by every message
they send); the messages counted in it are the outbox rows sent to them since. Both come from
tables the bot keeps anyway: no extra write on the chat path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.dialect import insert_ignore
from bot.storage.gate import writing
from bot.storage.models import ProactiveQuota, User
from bot.storage.repositories import outbox

SEND, PROACTIVE = "send", "proactive"


@dataclass(frozen=True)
class ReplyWindow:
    """The rule for one channel: `messages` free within `hours` of the user's last message,
    `monthly_quota` proactive messages a month."""

    hours: float = 48.0
    messages: int = 8
    monthly_quota: int = 1000


def month_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


class WindowGate:
    """Decides, for one channel's rows, whether and how each may be sent."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        channel: str,
        rule: ReplyWindow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.channel = channel
        self.rule = rule

    async def decide(self, row: outbox.Leased) -> str:
        """SEND, PROACTIVE (a unit of the quota was taken), outbox.OUTSIDE_WINDOW or
        outbox.QUOTA_SPENT."""
        at = datetime.now(UTC)
        async with self.sessionmaker() as session:
            last = (
                await session.execute(
                    select(User.last_seen_at).where(
                        User.channel == self.channel, User.external_id == row.recipient
                    )
                )
            ).scalar_one_or_none()
            if last is not None and last > at - timedelta(hours=self.rule.hours):
                sent = await outbox.sent_since(session, self.channel, row.recipient, last)
                if sent < self.rule.messages:
                    return SEND
        if not row.use_quota:
            return outbox.OUTSIDE_WINDOW
        return PROACTIVE if await self.take_quota(at) else outbox.QUOTA_SPENT

    async def take_quota(self, at: datetime | None = None) -> bool:
        """One proactive message of this month's quota, if any is left (atomic)."""
        month = month_of(at or datetime.now(UTC))
        t = ProactiveQuota.__table__
        async with writing(self.sessionmaker) as session:
            await session.execute(
                insert_ignore(
                    session,
                    ProactiveQuota,
                    {"channel": self.channel, "month": month, "used": 0},
                    ["channel", "month"],
                )
            )
            taken = await session.execute(
                update(t)
                .where(
                    t.c.channel == self.channel,
                    t.c.month == month,
                    t.c.used < self.rule.monthly_quota,
                )
                .values(used=t.c.used + 1)
                .returning(t.c.used)
            )
            ok = taken.first() is not None
            await session.commit()
        return ok

    async def used(self, at: datetime | None = None) -> int:
        """This month's proactive messages so far."""
        month = month_of(at or datetime.now(UTC))
        async with self.sessionmaker() as session:
            got = await session.execute(
                select(ProactiveQuota.used).where(
                    ProactiveQuota.channel == self.channel, ProactiveQuota.month == month
                )
            )
            return got.scalar_one_or_none() or 0
