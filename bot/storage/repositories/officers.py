"""Invite codes, officers and wrong tries: the queries bot/officers.py, the CLI and (later) the
dashboard share. Functions take a session and do not commit.

A code is redeemed with one conditional UPDATE (unused, not revoked, not expired), so two
processes racing for the same code cannot both win.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import InviteAttempt, InviteCode, User

ROLES = ("villager", "officer", "admin")


def add_invite(
    session: AsyncSession,
    code_hash: str,
    hint: str,
    role: str,
    area_code: str,
    expires_at: datetime,
    now: datetime,
) -> InviteCode:
    invite = InviteCode(
        code_hash=code_hash,
        hint=hint,
        role=role,
        area_code=area_code,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(invite)
    return invite


async def find_invite(session: AsyncSession, hashes: list[str]) -> InviteCode | None:
    """The invite whose code hashes to one of `hashes` (one per key in use)."""
    if not hashes:
        return None
    rows = await session.execute(select(InviteCode).where(InviteCode.code_hash.in_(hashes)))
    return rows.scalars().first()


async def get_invite(session: AsyncSession, invite_id: int) -> InviteCode | None:
    return await session.get(InviteCode, invite_id)


async def claim_invite(session: AsyncSession, invite_id: int, user_id: int, now: datetime) -> bool:
    """Mark the invite used by `user_id` if it still can be; False when another got there first
    (or it was revoked or expired meanwhile)."""
    result = await session.execute(
        update(InviteCode)
        .where(
            InviteCode.id == invite_id,
            InviteCode.used_at.is_(None),
            InviteCode.revoked_at.is_(None),
            InviteCode.expires_at > now,
        )
        .values(used_at=now, used_by=user_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def revoke_invite(session: AsyncSession, invite_id: int, now: datetime) -> bool:
    """Revoke an unused invite; False when it was already used or revoked."""
    result = await session.execute(
        update(InviteCode)
        .where(
            InviteCode.id == invite_id,
            InviteCode.used_at.is_(None),
            InviteCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def list_invites(session: AsyncSession) -> list[tuple[InviteCode, str | None]]:
    """Every invite, newest first, with the current role of the user who used it."""
    rows = await session.execute(
        select(InviteCode, User.role)
        .outerjoin(User, User.id == InviteCode.used_by)
        .order_by(InviteCode.id.desc())
    )
    return [(invite, role) for invite, role in rows.all()]


def set_role(user: User, role: str, area_code: str | None) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    user.role = role
    user.area_code = area_code if role != "villager" else None


async def deactivate(session: AsyncSession, user_id: int, now: datetime) -> User | None:
    """The user back to villager (their area dropped); their invites marked deactivated. None:
    no such user, or not an officer or admin."""
    user = await session.get(User, user_id)
    if user is None or user.role == "villager":
        return None
    set_role(user, "villager", None)
    await session.execute(
        update(InviteCode)
        .where(InviteCode.used_by == user_id, InviteCode.deactivated_at.is_(None))
        .values(deactivated_at=now)
        .execution_options(synchronize_session=False)
    )
    return user


async def officer_area(session: AsyncSession, user_id: int) -> str | None:
    """The area an officer (or admin) is bound to; None for a villager."""
    row = await session.execute(select(User.role, User.area_code).where(User.id == user_id))
    found = row.one_or_none()
    if found is None or found.role == "villager":
        return None
    return found.area_code


async def officers(session: AsyncSession) -> list[User]:
    rows = await session.execute(select(User).where(User.role != "villager").order_by(User.id))
    return list(rows.scalars())


async def wrong_tries(session: AsyncSession, who: str, since: datetime) -> list[datetime]:
    """When `who` typed a wrong code since `since`, oldest first."""
    rows = await session.execute(
        select(InviteAttempt.at)
        .where(InviteAttempt.who == who, InviteAttempt.at >= since)
        .order_by(InviteAttempt.at)
    )
    return list(rows.scalars())


async def add_wrong_try(session: AsyncSession, who: str, now: datetime, window: timedelta) -> None:
    """Record a wrong try; tries older than the window are dropped (they count no more)."""
    await session.execute(delete(InviteAttempt).where(InviteAttempt.at < now - window))
    session.add(InviteAttempt(who=who, at=now))


async def purge_wrong_tries(session: AsyncSession, before: datetime) -> int:
    """Drop the wrong tries older than `before` (for the retention job: they count no more
    after the window, and each names a person by a keyed hash). The number dropped."""
    result = await session.execute(delete(InviteAttempt).where(InviteAttempt.at < before))
    return result.rowcount or 0
