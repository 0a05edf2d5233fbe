"""Users and their consents: queries shared by middlewares, actions, flows, sender, dashboard.

Functions take a session and do not commit: inside a turn the pipeline commits, with the inbox
row and the replies.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from bot.storage.dialect import dialect_name
from bot.storage.models import Consent, Subscription, User


async def upsert(session: AsyncSession, channel: str, external_id: str) -> User:
    """Find or create the user row (channel + platform id only: no personal data yet).

    One statement that also returns the row; writing to us makes a user reachable again.
    """
    params = {"u_channel": channel, "u_external_id": external_id, "u_now": datetime.now(UTC)}
    row = (await session.execute(_upsert_statement(dialect_name(session)), params)).one()
    sync = session.sync_session
    if sync.identity_map.get(sync.identity_key(User, row.id)) is not None:
        # Already in this session: refresh that object instead (the ORM form of the statement).
        stmt = _upsert_statement(dialect_name(session), orm=True)
        found = await session.scalars(stmt, params, execution_options={"populate_existing": True})
        return found.one()
    # The row as a persistent object of the session, without a second statement: what the ORM
    # form (`insert(User)...returning(User)`) does, at a third less CPU per message.
    user = User(**{c.key: getattr(row, c.name) for c in _table.c})
    make_transient_to_detached(user)
    sync.add(user)
    return user


_table = User.__table__


@functools.cache
def _upsert_statement(dialect: str, orm: bool = False) -> Any:
    """INSERT the user or touch the existing row; RETURNING every column (or the entity)."""
    c = _table.c
    at = bindparam("u_now", type_=c.last_seen_at.type)
    return (
        (postgresql if dialect == "postgresql" else sqlite)
        .insert(User if orm else _table)
        .values(
            channel=bindparam("u_channel", type_=c.channel.type),
            external_id=bindparam("u_external_id", type_=c.external_id.type),
            state={},
            role="villager",
            reachable=True,
            created_at=at,
            last_seen_at=at,
        )
        .on_conflict_do_update(
            index_elements=["channel", "external_id"], set_={"last_seen_at": at, "reachable": True}
        )
        .returning(User if orm else _table)
    )


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
