"""Platform token pairs (`channel_tokens`): what the Zalo OA token keeper reads and writes.

The tokens are encrypted at rest (`bot.crypto`): every function here takes the cipher, writes
ciphertext and hands back plaintext, so the columns never hold a token. A row stored before
encryption (plaintext) is read as it is and re-encrypted on that first read (`get`, with a
compare-and-set so a pair another process refreshed meanwhile is never overwritten), or by
`python -m bot secrets rotate` (`rotate`). No migration: the columns stay Text.

Functions take a session; none commits except `seed`, `get` when it re-encrypts a plaintext row,
`rotate` and `forget`. `lock` takes the row for update (on PostgreSQL `SELECT ... FOR UPDATE`, so
one process refreshes at a time; SQLite has one writer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.crypto import TokenCipher, is_encrypted
from bot.storage.models import ChannelToken

log = logging.getLogger("bot.storage.tokens")


@dataclass(frozen=True)
class StoredTokens:
    """A row's pair, decrypted."""

    channel: str
    access_token: str
    refresh_token: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None


def _what(channel: str) -> str:
    return f"the stored {channel} token pair (channel_tokens)"


def read(row: ChannelToken, cipher: TokenCipher) -> StoredTokens:
    """The row's pair in plaintext (TokenKeyError when no configured key decrypts it)."""
    what = _what(row.channel)
    return StoredTokens(
        row.channel,
        cipher.decrypt(row.access_token, what),
        cipher.decrypt(row.refresh_token, what),
        row.access_expires_at,
        row.refresh_expires_at,
    )


async def get(session: AsyncSession, channel: str, cipher: TokenCipher) -> StoredTokens | None:
    """The pair; a plaintext row (stored before encryption) is encrypted now, and committed."""
    row = await session.get(ChannelToken, channel)
    if row is None:
        return None
    pair = read(row, cipher)
    if not (is_encrypted(row.access_token) and is_encrypted(row.refresh_token)):
        done = await session.execute(
            update(ChannelToken)
            .where(
                ChannelToken.channel == channel,
                ChannelToken.access_token == row.access_token,
                ChannelToken.refresh_token == row.refresh_token,
            )
            .values(
                access_token=cipher.encrypt(pair.access_token),
                refresh_token=cipher.encrypt(pair.refresh_token),
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if done.rowcount:
            log.info("channel_tokens: the %s pair was stored in plaintext; encrypted it", channel)
    return pair


async def seed(
    session: AsyncSession,
    channel: str,
    access_token: str,
    refresh_token: str,
    now: datetime,
    cipher: TokenCipher,
) -> StoredTokens:
    """Store the first pair (from the settings), or return the one another process stored first.

    Commits."""
    row = ChannelToken(
        channel=channel,
        access_token=cipher.encrypt(access_token),
        refresh_token=cipher.encrypt(refresh_token),
        access_expires_at=None,
        refresh_expires_at=None,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # another process seeded it first: use theirs
        await session.rollback()
        theirs = await get(session, channel, cipher)
        if theirs is None:
            raise
        return theirs
    return StoredTokens(channel, access_token, refresh_token, None, None)


async def lock(session: AsyncSession, channel: str) -> ChannelToken | None:
    """The row, locked until the transaction ends (the refresh happens meanwhile); `read` it."""
    return (
        await session.execute(
            select(ChannelToken).where(ChannelToken.channel == channel).with_for_update()
        )
    ).scalar_one_or_none()


def store(
    row: ChannelToken,
    cipher: TokenCipher,
    access_token: str,
    refresh_token: str,
    access_expires_at: datetime,
    refresh_expires_at: datetime,
    now: datetime,
) -> StoredTokens:
    """Put a refreshed pair, encrypted, on the locked row (the caller commits before using it)."""
    row.access_token = cipher.encrypt(access_token)
    row.refresh_token = cipher.encrypt(refresh_token)
    row.access_expires_at = access_expires_at
    row.refresh_expires_at = refresh_expires_at
    row.updated_at = now
    return StoredTokens(
        row.channel, access_token, refresh_token, access_expires_at, refresh_expires_at
    )


@dataclass(frozen=True)
class Rotated:
    rows: int  # rows re-encrypted with the first key
    already: int  # rows that were already encrypted with it


async def rotate(session: AsyncSession, cipher: TokenCipher, attempts: int = 5) -> Rotated:
    """Re-encrypt every stored pair with the cipher's first key (plaintext rows included).

    Each row is written with a compare-and-set on the values read: a pair refreshed meanwhile by
    a running bot is read again, never overwritten. Commits each row. TokenKeyError when a row
    cannot be decrypted (nothing is changed for that row)."""
    rows = already = 0
    channels = (await session.execute(select(ChannelToken.channel))).scalars().all()
    await session.rollback()
    for channel in channels:
        for _ in range(attempts):
            row = (
                await session.execute(
                    select(ChannelToken)
                    .where(ChannelToken.channel == channel)
                    .execution_options(populate_existing=True)
                )
            ).scalar_one_or_none()
            if row is None:
                break
            if cipher.is_current(row.access_token) and cipher.is_current(row.refresh_token):
                already += 1
                await session.rollback()
                break
            what = _what(channel)
            done = await session.execute(
                update(ChannelToken)
                .where(
                    ChannelToken.channel == channel,
                    ChannelToken.access_token == row.access_token,
                    ChannelToken.refresh_token == row.refresh_token,
                )
                .values(
                    access_token=cipher.rotate(row.access_token, what),
                    refresh_token=cipher.rotate(row.refresh_token, what),
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if done.rowcount:
                rows += 1
                break
        else:
            raise RuntimeError(f"channel_tokens: the {channel} pair kept changing; run it again")
    return Rotated(rows, already)


async def forget(session: AsyncSession, channel: str) -> bool:
    """Delete a channel's stored pair (its key is lost); the settings seed a new one. Commits."""
    done = await session.execute(delete(ChannelToken).where(ChannelToken.channel == channel))
    await session.commit()
    return bool(done.rowcount)


async def check(session: AsyncSession, cipher: TokenCipher) -> list[tuple[str, str]]:
    """Each stored pair's state: (channel, "current" | "old key" | "plaintext"); TokenKeyError
    when one cannot be decrypted."""
    out = []
    for row in (await session.execute(select(ChannelToken))).scalars():
        read(row, cipher)
        values = (row.access_token, row.refresh_token)
        if not all(map(is_encrypted, values)):
            out.append((row.channel, "plaintext"))
        elif all(map(cipher.is_current, values)):
            out.append((row.channel, "current"))
        else:
            out.append((row.channel, "old key"))
    return out
