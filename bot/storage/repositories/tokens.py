"""Platform token pairs (`channel_tokens`): what the Zalo OA token keeper reads and writes.

Functions take a session; none commits except `seed`. `lock` takes the row for update (on
PostgreSQL `SELECT ... FOR UPDATE`, so one process refreshes at a time; SQLite has one writer).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ChannelToken


async def get(session: AsyncSession, channel: str) -> ChannelToken | None:
    return await session.get(ChannelToken, channel)


async def seed(
    session: AsyncSession, channel: str, access_token: str, refresh_token: str, now: datetime
) -> ChannelToken:
    """Store the first pair (from the settings), or return the one another process stored first.

    Commits."""
    row = ChannelToken(
        channel=channel,
        access_token=access_token,
        refresh_token=refresh_token,
        access_expires_at=None,
        refresh_expires_at=None,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # another process seeded it first: use theirs
        await session.rollback()
        theirs = await session.get(ChannelToken, channel)
        if theirs is None:
            raise
        return theirs
    return row


async def lock(session: AsyncSession, channel: str) -> ChannelToken | None:
    """The row, locked until the transaction ends (the refresh happens meanwhile)."""
    return (
        await session.execute(
            select(ChannelToken).where(ChannelToken.channel == channel).with_for_update()
        )
    ).scalar_one_or_none()


def store(
    row: ChannelToken,
    access_token: str,
    refresh_token: str,
    access_expires_at: datetime,
    refresh_expires_at: datetime,
    now: datetime,
) -> None:
    """Put a refreshed pair on the locked row (the caller commits before using it)."""
    row.access_token = access_token
    row.refresh_token = refresh_token
    row.access_expires_at = access_expires_at
    row.refresh_expires_at = refresh_expires_at
    row.updated_at = now
