"""Staff dashboard accounts, their sessions, failed logins and the audit log (bot/staff/).

Functions take a session and do not commit (the caller's transaction: an account change and its
audit entry land together). Names are stored in lower case; `normalise_name` is the one place
that decides what a name is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import AuditEntry, StaffAccount, StaffLoginAttempt, StaffSession

ROLES = ("admin", "province", "commune")
NAME_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{2,63}\Z")
ACCOUNT, ADDRESS = "account", "address"


def normalise_name(name: str) -> str:
    return (name or "").strip().lower()


def valid_name(name: str) -> bool:
    return bool(NAME_RE.fullmatch(name))


def now() -> datetime:
    return datetime.now(UTC)


# Accounts


async def account_by_name(session: AsyncSession, name: str) -> StaffAccount | None:
    got = await session.execute(
        select(StaffAccount).where(StaffAccount.name == normalise_name(name))
    )
    return got.scalar_one_or_none()


async def account_by_id(session: AsyncSession, account_id: int) -> StaffAccount | None:
    return await session.get(StaffAccount, account_id)


async def accounts(session: AsyncSession, active: bool | None = None) -> list[StaffAccount]:
    q = select(StaffAccount).order_by(StaffAccount.name)
    if active is not None:
        q = q.where(StaffAccount.active.is_(active))
    return list((await session.execute(q)).scalars())


async def count_accounts(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(StaffAccount))).scalar_one()


def add_account(
    session: AsyncSession, name: str, password_hash: str, role: str, area_code: str | None
) -> StaffAccount:
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    at = now()
    account = StaffAccount(
        name=normalise_name(name),
        password_hash=password_hash,
        role=role,
        area_code=area_code if role == "commune" else None,
        active=True,
        created_at=at,
        updated_at=at,
        password_changed_at=at,
    )
    session.add(account)
    return account


def set_password(account: StaffAccount, password_hash: str, changed: bool = True) -> None:
    """A new hash; `changed` false for a rehash of the same password (new parameters)."""
    account.password_hash = password_hash
    if changed:
        account.password_changed_at = account.updated_at = now()


def set_role(account: StaffAccount, role: str, area_code: str | None) -> None:
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    account.role = role
    account.area_code = area_code if role == "commune" else None
    account.updated_at = now()


async def set_active(session: AsyncSession, account: StaffAccount, active: bool) -> int:
    """(De)activate; deactivating ends every session of the account: how many."""
    account.active = active
    account.updated_at = now()
    return 0 if active else await end_sessions(session, account.id)


async def admins_active(session: AsyncSession) -> int:
    q = select(func.count()).where(StaffAccount.role == "admin", StaffAccount.active.is_(True))
    return (await session.execute(q.select_from(StaffAccount))).scalar_one()


# Sessions


def add_session(session: AsyncSession, account_id: int, token_hash: str) -> StaffSession:
    at = now()
    row = StaffSession(token_hash=token_hash, account_id=account_id, created_at=at, last_seen_at=at)
    session.add(row)
    return row


async def session_by_token(
    session: AsyncSession, token_hash: str
) -> tuple[StaffSession, StaffAccount] | None:
    q = (
        select(StaffSession, StaffAccount)
        .join(StaffAccount, StaffAccount.id == StaffSession.account_id)
        .where(StaffSession.token_hash == token_hash)
    )
    row = (await session.execute(q)).first()
    return None if row is None else (row[0], row[1])


async def touch_session(session: AsyncSession, session_id: int) -> None:
    await session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now())
    )


async def end_session(session: AsyncSession, token_hash: str) -> int:
    got = await session.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash))
    return got.rowcount or 0


async def end_sessions(session: AsyncSession, account_id: int, keep: int | None = None) -> int:
    """Every session of an account ("log out everywhere", deactivation, a new password), but
    session `keep` if given."""
    q = delete(StaffSession).where(StaffSession.account_id == account_id)
    if keep is not None:
        q = q.where(StaffSession.id != keep)
    got = await session.execute(q)
    return got.rowcount or 0


async def session_count(session: AsyncSession, account_id: int) -> int:
    q = select(func.count()).select_from(StaffSession)
    return (await session.execute(q.where(StaffSession.account_id == account_id))).scalar_one()


async def purge_sessions(session: AsyncSession, idle: timedelta, absolute: timedelta) -> int:
    """Delete sessions past their idle or absolute expiry."""
    at = now()
    got = await session.execute(
        delete(StaffSession).where(
            (StaffSession.last_seen_at < at - idle) | (StaffSession.created_at < at - absolute)
        )
    )
    return got.rowcount or 0


# Failed logins


def add_failure(session: AsyncSession, kind: str, key: str) -> StaffLoginAttempt:
    row = StaffLoginAttempt(kind=kind, key=key[:100], at=now())
    session.add(row)
    return row


async def lock_attempts(session: AsyncSession, keys: list[tuple[str, str]]) -> None:
    """On PostgreSQL, hold these (kind, key) counters until the transaction ends, so a count
    and the try it admits are one step across processes (SQLite: the write gate already
    serialises writers). Taken in one order: two logins never wait on each other in a ring."""
    if session.bind.dialect.name != "postgresql":
        return
    for kind, key in sorted(set(keys)):
        digest = hashlib.blake2b(f"staff-login\x00{kind}\x00{key[:100]}".encode(), digest_size=8)
        lock_id = int.from_bytes(digest.digest(), "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})


async def drop_attempts(session: AsyncSession, ids: list[int]) -> None:
    if ids:
        await session.execute(delete(StaffLoginAttempt).where(StaffLoginAttempt.id.in_(ids)))


async def failures(session: AsyncSession, kind: str, key: str, window: timedelta) -> int:
    q = select(func.count()).select_from(StaffLoginAttempt)
    q = q.where(
        StaffLoginAttempt.kind == kind,
        StaffLoginAttempt.key == key[:100],
        StaffLoginAttempt.at >= now() - window,
    )
    return (await session.execute(q)).scalar_one()


async def clear_failures(session: AsyncSession, kind: str, key: str) -> None:
    await session.execute(
        delete(StaffLoginAttempt).where(
            StaffLoginAttempt.kind == kind, StaffLoginAttempt.key == key[:100]
        )
    )


async def purge_failures(session: AsyncSession, window: timedelta) -> int:
    got = await session.execute(
        delete(StaffLoginAttempt).where(StaffLoginAttempt.at < now() - window)
    )
    return got.rowcount or 0


# Audit log


def add_audit(
    session: AsyncSession,
    staff_id: int | None,
    staff_name: str | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=now(),
        staff_id=staff_id,
        staff_name=staff_name,
        action=action[:64],
        target=None if target is None else str(target)[:200],
        detail=detail,
        address=None if address is None else address[:100],
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    staff_name: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("report." for every report one)
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def where(self) -> list:
        clauses = []
        if self.staff_name:
            clauses.append(AuditEntry.staff_name == normalise_name(self.staff_name))
        if self.action:
            if self.action.endswith("."):
                clauses.append(AuditEntry.action.startswith(self.action, autoescape=True))
            else:
                clauses.append(AuditEntry.action == self.action)
        if self.target:
            clauses.append(AuditEntry.target == self.target)
        if self.since is not None:
            clauses.append(AuditEntry.at >= self.since)
        if self.until is not None:
            clauses.append(AuditEntry.at < self.until)
        return clauses


async def audit_page(
    session: AsyncSession, filters: AuditFilter, before: int | None = None, limit: int = 50
) -> list[AuditEntry]:
    """Newest first, `limit` entries older than entry `before` (keyset paging on the id)."""
    q = select(AuditEntry).where(*filters.where())
    if before is not None:
        q = q.where(AuditEntry.id < before)
    q = q.order_by(AuditEntry.id.desc()).limit(limit)
    return list((await session.execute(q)).scalars())


async def audit_seen(
    session: AsyncSession, action: str, since: datetime, address: str | None, target: str | None
) -> bool:
    """Whether an entry of `action` from `address` on `target` was written since `since`."""
    q = select(AuditEntry.id).where(
        AuditEntry.action == action,
        AuditEntry.at >= since,
        AuditEntry.address == address if address is not None else AuditEntry.address.is_(None),
        AuditEntry.target == target if target is not None else AuditEntry.target.is_(None),
    )
    return (await session.execute(q.limit(1))).first() is not None


async def audit_actions(session: AsyncSession) -> list[str]:
    q = select(AuditEntry.action).distinct().order_by(AuditEntry.action)
    return list((await session.execute(q)).scalars())


async def iter_audit(
    session: AsyncSession, filters: AuditFilter, batch: int = 1000
) -> AsyncIterator[AuditEntry]:
    """Every matching entry, newest first, `batch` at a time (an export never holds them all)."""
    before: int | None = None
    while True:
        page = await audit_page(session, filters, before, batch)
        for entry in page:
            yield entry
        if len(page) < batch:
            return
        before = page[-1].id
