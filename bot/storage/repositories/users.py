"""Users and their consents: queries shared by middlewares, actions, flows, sender, dashboard.

Functions take a session and do not commit: inside a turn the pipeline commits, with the inbox
row and the replies.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.dialect import dialect_insert
from bot.storage.models import Consent, Subscription, User


async def upsert(session: AsyncSession, channel: str, external_id: str) -> User:
    """Find or create the user row (channel + platform id only: no personal data yet).

    One statement that also returns the row; writing to us makes a user reachable again.
    """
    now = datetime.now(UTC)
    stmt = (
        dialect_insert(session, User)
        .values(
            channel=channel,
            external_id=external_id,
            state={},
            role="villager",
            reachable=True,
            created_at=now,
            last_seen_at=now,
        )
        .on_conflict_do_update(
            index_elements=["channel", "external_id"], set_={"last_seen_at": now, "reachable": True}
        )
        .returning(User)
    )
    return (await session.scalars(stmt, execution_options={"populate_existing": True})).one()


async def consented_purposes(session: AsyncSession, user_id: int, notice_version: int) -> set[str]:
    """Purposes the user consented to under `notice_version` or later, not withdrawn."""
    rows = await session.execute(
        select(Consent.purpose).where(
            Consent.user_id == user_id,
            Consent.withdrawn_at.is_(None),
            Consent.notice_version >= notice_version,
        )
    )
    return set(rows.scalars())


def add_consent(
    session: AsyncSession, user_id: int, purpose: str, channel: str, notice_version: int
) -> Consent:
    """Record a consent given now: which notice was shown, on which channel, for what."""
    consent = Consent(
        user_id=user_id,
        purpose=purpose,
        channel=channel,
        notice_version=notice_version,
        given_at=datetime.now(UTC),
    )
    session.add(consent)
    return consent


async def active_consents(session: AsyncSession, user_id: int) -> list[Consent]:
    """The user's consents not withdrawn, under any notice version: what "my data" lists."""
    rows = await session.execute(
        select(Consent).where(Consent.user_id == user_id, Consent.withdrawn_at.is_(None))
    )
    return list(rows.scalars())


async def mark_unreachable(session: AsyncSession, channel: str, external_id: str) -> bool:
    """The user blocked us or unfollowed: stop sending, stop their subscriptions. No commit."""
    user = (
        await session.execute(
            select(User).where(User.channel == channel, User.external_id == external_id)
        )
    ).scalar_one_or_none()
    if user is None:
        return False
    user.reachable = False
    await session.execute(
        update(Subscription)
        .where(Subscription.user_id == user.id, Subscription.active.is_(True))
        .values(active=False, updated_at=datetime.now(UTC))
    )
    return True
