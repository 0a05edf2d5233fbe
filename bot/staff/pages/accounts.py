"""Accounts (admins): the list, a new account, an account's role and area, a new password,
deactivate / reactivate. And for everyone: their own password (/staff/password).

The checks are bot/staff/accounts.py's, shared with `python -m bot admin`; each change and its
audit entry are one transaction.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from bot.areas import areas_of
from bot.staff import accounts, audit
from bot.staff.accounts import AccountError
from bot.staff.auth import (
    ROLE_LABELS,
    ROLES,
    Refused,
    StaffUser,
    check_csrf,
    current_staff,
    hash_password,
    require,
    services_of,
    verify_password,
)
from bot.storage.repositories import staff as repo

routes = web.RouteTableDef()
NAV = ("Tài khoản", "/staff/accounts", 90, ("admin",))
NAME = r"{name:[a-z0-9][a-z0-9._-]{2,63}}"


def _communes(request: web.Request) -> list:
    tree = areas_of(services_of(request).content)
    return [a for a in tree.areas if a.parent is not None]


async def _admin(request: web.Request) -> StaffUser:
    return require(await current_staff(request), "admin")


def _render(request: web.Request, template: str, ctx: dict, status: int = 200) -> web.Response:
    base = {"roles": [(r, ROLE_LABELS[r]) for r in ROLES], "areas": _communes(request)}
    return aiohttp_jinja2.render_template(template, request, {**base, **ctx}, status=status)


async def _list(request: web.Request, **ctx) -> web.Response:
    async with services_of(request).sessionmaker() as session:
        rows = await repo.accounts(session)
    status = ctx.pop("status", 200)
    return _render(request, "accounts/list.html", {"accounts": rows, "form": {}, **ctx}, status)


@routes.get("/staff/accounts")
async def account_list(request: web.Request) -> web.StreamResponse:
    await _admin(request)
    done = request.query.get("done")
    return await _list(request, notice=DONE.get(done or ""))


DONE = {
    "created": "Đã tạo tài khoản.",
    "role": "Đã đổi vai trò; các phiên của tài khoản đó đã kết thúc.",
    "password": "Đã đặt mật khẩu mới; các phiên của tài khoản đó đã kết thúc.",
    "deactivated": "Đã khóa tài khoản; các phiên của nó đã kết thúc.",
    "reactivated": "Đã mở lại tài khoản.",
}


@routes.post("/staff/accounts")
async def account_create(request: web.Request) -> web.StreamResponse:
    staff = await _admin(request)
    form = await check_csrf(request)
    services = services_of(request)
    fields = {k: str(form.get(k) or "").strip() for k in ("name", "role", "area")}
    password = str(form.get("password") or "")
    try:
        accounts.check_name(fields["name"])
        accounts.check_role(fields["role"], fields["area"], areas_of(services.content))
        accounts.check_password(password, services.settings.staff)
        async with services.writing() as session:
            await accounts.create(
                session,
                services.settings.staff,
                areas_of(services.content),
                fields["name"],
                password,
                fields["role"],
                fields["area"] or None,
                by=staff,
            )
            await session.commit()
    except AccountError as exc:
        return await _list(request, error=str(exc), form=fields, status=400)
    raise web.HTTPSeeOther("/staff/accounts?done=created")


async def _account(request: web.Request):
    async with services_of(request).sessionmaker() as session:
        account = await repo.account_by_name(session, request.match_info["name"])
        sessions = await repo.session_count(session, account.id) if account else 0
    if account is None:
        raise web.HTTPNotFound()
    return account, sessions


async def _detail(request: web.Request, status: int = 200, **ctx) -> web.Response:
    account, sessions = await _account(request)
    return _render(
        request, "accounts/detail.html", {"account": account, "sessions": sessions, **ctx}, status
    )


@routes.get(f"/staff/accounts/{NAME}")
async def account_detail(request: web.Request) -> web.StreamResponse:
    await _admin(request)
    return await _detail(request)


async def _change(request: web.Request, work, done: str) -> web.StreamResponse:
    """Run `work(session, staff, form)` in a write transaction; back to the list, or the
    detail page with the error."""
    staff = await _admin(request)
    form = await check_csrf(request)
    services = services_of(request)
    try:
        async with services.writing() as session:
            done = await work(session, staff, form) or done
            await session.commit()
    except AccountError as exc:
        return await _detail(request, status=400, error=str(exc))
    raise web.HTTPSeeOther(f"/staff/accounts?done={done}")


@routes.post(f"/staff/accounts/{NAME}/role")
async def account_role(request: web.Request) -> web.StreamResponse:
    tree = areas_of(services_of(request).content)

    async def work(session, staff, form):
        await accounts.set_role(
            session,
            tree,
            request.match_info["name"],
            str(form.get("role") or ""),
            str(form.get("area") or "").strip() or None,
            by=staff,
        )

    await _account(request)
    return await _change(request, work, "role")


@routes.post(f"/staff/accounts/{NAME}/password")
async def account_password(request: web.Request) -> web.StreamResponse:
    settings = services_of(request).settings.staff

    async def work(session, staff, form):
        await accounts.reset_password(
            session, settings, request.match_info["name"], str(form.get("password") or ""), staff
        )

    await _account(request)
    return await _change(request, work, "password")


@routes.post(f"/staff/accounts/{NAME}/active")
async def account_active(request: web.Request) -> web.StreamResponse:
    async def work(session, staff, form):
        active = form.get("active") == "1"
        if not active and request.match_info["name"] == staff.name:
            raise AccountError("Không tự khóa tài khoản của chính mình.")
        await accounts.set_active(session, request.match_info["name"], active, by=staff)
        return "reactivated" if active else "deactivated"

    await _account(request)
    return await _change(request, work, "deactivated")


@routes.get("/staff/password")
async def own_password_page(request: web.Request) -> web.StreamResponse:
    await current_staff(request)
    return aiohttp_jinja2.render_template("accounts/password.html", request, {})


@routes.post("/staff/password")
async def own_password(request: web.Request) -> web.StreamResponse:
    """A new password for oneself: the current one first; every other session ends."""
    staff = await current_staff(request)
    form = await check_csrf(request)
    services = services_of(request)
    settings = services.settings.staff
    current = str(form.get("current") or "")
    new = str(form.get("password") or "")
    error = None
    async with services.sessionmaker() as session:
        account = await repo.account_by_id(session, staff.id)
    if account is None:
        raise Refused("Tài khoản không còn.")
    if not await verify_password(settings, account.password_hash, current):
        error = "Mật khẩu hiện tại không đúng."
    elif new != str(form.get("again") or ""):
        error = "Hai lần nhập mật khẩu mới không giống nhau."
    else:
        try:
            accounts.check_password(new, settings)
        except AccountError as exc:
            error = str(exc)
    if error:
        return aiohttp_jinja2.render_template(
            "accounts/password.html", request, {"error": error}, status=400
        )
    hashed = await hash_password(new, settings)
    async with services.writing() as session:
        account = await repo.account_by_id(session, staff.id)
        repo.set_password(account, hashed)
        ended = await repo.end_sessions(session, staff.id, keep=staff.session_id)  # not this one
        await audit.record(
            session,
            staff,
            "account.password",
            target=f"account:{staff.name}",
            detail={"own": True, "sessions_ended": ended},
        )
        await session.commit()
    return aiohttp_jinja2.render_template(
        "accounts/password.html", request, {"notice": "Đã đổi mật khẩu."}
    )
