"""Subscriptions to notices: one row per user and channel, switched on and off, never duplicated.

Functions take a session and do not commit: inside a turn the pipeline commits, with the inbox
row and the replies.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.dialect import insert_ignore
from bot.storage.models import Subscription


async def get(session: AsyncSession, user_id: int, channel: str) -> Subscription | None:
    """The user's subscription on `channel`, active or stopped."""
    return (
        await session.execute(
            select(Subscription).where(
                Subscription.user_id == user_id, Subscription.channel == channel
            )
        )
    ).scalar_one_or_none()


async def subscribe(session: AsyncSession, user_id: int, channel: str) -> bool:
    """Subscribe the user on `channel`; False when they already were.

    INSERT ... ON CONFLICT DO NOTHING, so two turns racing (two processes, a retried message)
    make one row; a stopped subscription is switched back on.
    """
    now = datetime.now(UTC)
    inserted = (
        await session.execute(
            insert_ignore(
                session,
                Subscription,
                {
                    "user_id": user_id,
                    "channel": channel,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                },
                ["user_id", "channel"],
            )
        )
    ).rowcount
    if inserted:
        return True
    sub = await get(session, user_id, channel)
    assert sub is not None  # the row the insert ran into
    if sub.active:
        return False
    sub.active, sub.updated_at = True, now
    return True


async def unsubscribe(session: AsyncSession, user_id: int, channel: str) -> bool:
    """Stop the user's subscription on `channel`; False when there was no active one."""
    sub = await get(session, user_id, channel)
    if sub is None or not sub.active:
        return False
    sub.active, sub.updated_at = False, datetime.now(UTC)
    return True


async def has_active(session: AsyncSession, user_id: int) -> bool:
    """Whether the user receives notices on any channel."""
    return bool(
        (
            await session.execute(
                select(
                    exists().where(Subscription.user_id == user_id, Subscription.active.is_(True))
                )
            )
        ).scalar()
    )


async def set_area(
    session: AsyncSession, user_id: int, channel: str, area_code: str | None
) -> bool:
    """Where the subscriber lives (a dotted area code; None: not said); False: no subscription."""
    sub = await get(session, user_id, channel)
    if sub is None:
        return False
    sub.area_code, sub.updated_at = area_code, datetime.now(UTC)
    return True


async def set_topics(
    session: AsyncSession, user_id: int, channel: str, topics: list[str] | None
) -> bool:
    """The topics the subscriber takes (None: every topic); False: no subscription."""
    from bot.storage.repositories.notices import encode_topics

    sub = await get(session, user_id, channel)
    if sub is None:
        return False
    sub.topics, sub.updated_at = encode_topics(topics), datetime.now(UTC)
    return True


def topics_of(sub: Subscription) -> list[str] | None:
    """The subscriber's topics (None: every topic)."""
    from bot.storage.repositories.notices import decode_topics

    return decode_topics(sub.topics)
