"""Staff accounts: made, changed and deactivated by the CLI (`python -m bot admin`) and by admins
on the accounts page, with the same checks; every change has its audit entry, in the same
transaction. `AccountError` carries a short message that says what to do (Vietnamese for the
page; the CLI prints it as is).

Roles: "admin" (everything, accounts included), "province" (every area), "commune" (bound to an
area of the tree, bot/areas.py: sees its subtree only). An account is never deleted, only
deactivated (the audit log names it); deactivating ends its sessions, and so does a new
password. The last active admin cannot be deactivated or lose the role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.staff import audit
from bot.staff.auth import ROLES, StaffUser, hash_password, password_problem
from bot.storage.repositories import staff as repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.areas import AreaTree
    from bot.config import StaffSettings
    from bot.storage.models import StaffAccount


class AccountError(ValueError):
    """What is wrong with the request, in a sentence for the person who made it."""


def check_name(name: str) -> str:
    norm = repo.normalise_name(name)
    if not repo.valid_name(norm):
        raise AccountError(
            "Tên đăng nhập: 3–64 ký tự a-z, 0-9, dấu chấm, gạch nối hoặc gạch dưới, "
            "bắt đầu bằng chữ hoặc số."
        )
    return norm


def check_role(role: str, area: str | None, tree: AreaTree) -> tuple[str, str | None]:
    """The role and, for a commune account, the area's dotted code (from a code, an official
    code or a unique last part)."""
    if role not in ROLES:
        raise AccountError("Vai trò: admin, province hoặc commune.")
    if role != "commune":
        return role, None
    found = tree.get(area or "") if area and area.strip() else None
    if found is None:
        raise AccountError(
            "Tài khoản cấp xã cần một địa bàn có trong danh sách (mã dạng qng.ba_dong)."
        )
    if found.parent is None:
        raise AccountError("Địa bàn của tài khoản cấp xã phải là một xã/phường, không phải tỉnh.")
    return role, found.code


def check_password(password: str, settings: StaffSettings) -> None:
    problem = password_problem(password, settings)
    if problem:
        raise AccountError(problem)


async def create(
    session: AsyncSession,
    settings: StaffSettings,
    tree: AreaTree,
    name: str,
    password: str,
    role: str,
    area: str | None = None,
    by: StaffUser | None = None,
    address: str | None = None,
) -> StaffAccount:
    name = check_name(name)
    role, area_code = check_role(role, area, tree)
    check_password(password, settings)
    if await repo.account_by_name(session, name) is not None:
        raise AccountError(f"Đã có tài khoản tên {name}.")
    account = repo.add_account(
        session, name, await hash_password(password, settings), role, area_code
    )
    await session.flush()
    await audit.record(
        session,
        by,
        "account.created",
        target=f"account:{name}",
        detail={"role": role, "area": area_code, "by": "cli" if by is None else "page"},
        address=address,
    )
    return account


async def _get(session: AsyncSession, name: str) -> StaffAccount:
    account = await repo.account_by_name(session, name)
    if account is None:
        raise AccountError(f"Không có tài khoản tên {repo.normalise_name(name)[:64]}.")
    return account


async def _keeps_an_admin(session: AsyncSession, account: StaffAccount) -> None:
    if account.role == "admin" and account.active and await repo.admins_active(session) <= 1:
        raise AccountError("Đây là quản trị viên cuối cùng đang hoạt động: thêm người khác trước.")


async def set_role(
    session: AsyncSession,
    tree: AreaTree,
    name: str,
    role: str,
    area: str | None,
    by: StaffUser | None = None,
) -> StaffAccount:
    account = await _get(session, name)
    role, area_code = check_role(role, area, tree)
    if role == account.role and area_code == account.area_code:
        raise AccountError("Không có gì thay đổi.")
    if role != "admin":
        await _keeps_an_admin(session, account)
    old = {"role": account.role, "area": account.area_code}
    repo.set_role(account, role, area_code)
    # What the account sees changed: its open sessions end, the next login loads the new role.
    ended = await repo.end_sessions(session, account.id)
    await audit.record(
        session,
        by,
        "account.role",
        target=f"account:{account.name}",
        detail={"from": old, "to": {"role": role, "area": area_code}, "sessions_ended": ended},
    )
    return account


async def set_active(
    session: AsyncSession, name: str, active: bool, by: StaffUser | None = None
) -> tuple[StaffAccount, int]:
    """(the account, sessions ended)."""
    account = await _get(session, name)
    if account.active == active:
        raise AccountError("Tài khoản đã " + ("hoạt động." if active else "bị khóa."))
    if not active:
        await _keeps_an_admin(session, account)
    ended = await repo.set_active(session, account, active)
    await audit.record(
        session,
        by,
        "account.reactivated" if active else "account.deactivated",
        target=f"account:{account.name}",
        detail={"sessions_ended": ended} if not active else None,
    )
    return account, ended


async def reset_password(
    session: AsyncSession,
    settings: StaffSettings,
    name: str,
    password: str,
    by: StaffUser | None = None,
) -> tuple[StaffAccount, int]:
    """A new password; every session of the account ends. (the account, sessions ended)."""
    account = await _get(session, name)
    check_password(password, settings)
    repo.set_password(account, await hash_password(password, settings))
    ended = await repo.end_sessions(session, account.id)
    # A forgotten password's lockout ends with the reset.
    await repo.clear_failures(session, repo.ACCOUNT, account.name)
    await audit.record(
        session,
        by,
        "account.password",
        target=f"account:{account.name}",
        detail={"sessions_ended": ended},
    )
    return account, ended
