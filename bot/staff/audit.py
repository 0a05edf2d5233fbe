"""The audit log: every staff action, who, when, what, on what, from where.

    from bot.staff import audit
    async with services.writing() as session:
        ...the change...
        await audit.record(session, staff, "report.checked", target=f"report:{report.id}",
                           detail={"comment": "..."})
        await session.commit()

`record` adds the entry to the caller's session and transaction: the action and its entry are
committed together or not at all. `staff` is the StaffUser doing it (its address is taken from
the request it was loaded for unless `address` is given); None for what no logged-in account did
(a failed login: `staff_id` / `staff_name` name the account tried, when it exists).

Actions are dotted, lower case, area first: `login`, `login.failed`, `login.locked`, `logout`,
`logout.everywhere`, `account.created`, `account.role`, `account.password`,
`account.deactivated`, `account.reactivated`, `audit.export`; other pages use their own
(`report.checked`, `feedback.status`, `handoff.reply`, `reports.export`...). The page filters
by an exact action or a prefix ("report."). `detail` is a small JSON object: never a password,
and no more personal data than the action needs (a reply's text belongs to its own table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage.models import AuditEntry
from bot.storage.repositories import staff as repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.staff.auth import StaffUser


async def record(
    session: AsyncSession,
    staff: StaffUser | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
    *,
    staff_id: int | None = None,
    staff_name: str | None = None,
) -> AuditEntry:
    """Add an audit entry in the caller's transaction (flushed, not committed)."""
    if staff is not None:
        staff_id, staff_name = staff.id, staff.name
        if address is None:
            address = staff.address
    entry = repo.add_audit(session, staff_id, staff_name, action, target, detail, address)
    await session.flush()
    return entry
