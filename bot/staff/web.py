"""The staff dashboard: an aiohttp sub-app mounted at `/staff/` (bot/app.py).

Adding a page touches no shared file: write `bot/staff/pages/<name>.py` with

    from aiohttp import web
    import aiohttp_jinja2
    from bot.staff import audit
    from bot.staff.auth import check_csrf, current_staff, require, services_of

    routes = web.RouteTableDef()
    NAV = ("Phản ánh", "/staff/feedback", 20, ("admin", "province", "commune"))

    @routes.get("/staff/feedback")
    async def feedback_list(request):
        staff = await current_staff(request)
        async with services_of(request).sessionmaker() as session:
            rows = await some_repository.page(session, staff.area_clause(Feedback.area_code))
        return aiohttp_jinja2.render_template("feedback/list.html", request, {"rows": rows})

    @routes.post("/staff/feedback/{id:\\d+}/status")
    async def feedback_status(request):
        staff = require(await current_staff(request), "admin", "province")
        form = await check_csrf(request)
        async with services_of(request).writing() as session:  # the write gate on SQLite
            ...
            await audit.record(session, staff, "feedback.status", target=f"feedback:{id}")
            await session.commit()
        raise web.HTTPSeeOther("/staff/feedback")

and its templates in `bot/staff/templates/feedback/*.html`, each `{% extends "base.html" %}`
filling `{% block title %}` and `{% block content %}`. Every module of bot/staff/pages is found
at start (pkgutil): its `routes` are added (paths written in full, "/staff/...", or relative to
the sub-app, "/feedback": both work) and `NAV` = (label, link, order, roles) puts it in the
menu for those roles (None: every role), lowest order first.

What every page gets without asking:

- no session, no page: `guard` loads the staff user of every request (auth.REQUEST_KEY) and
  refuses the rest: a GET goes to the login page, a POST or a JSON request gets a 403; only the
  login page and /staff/static/ are public. A page still calls `current_staff` (the cached
  user) and `require(staff, roles...)` for its roles, and filters by `staff.area_clause(...)`
  or checks `require_area(staff, obj.area_code)`;
- templates see `staff`, `nav` (this role's menu), `csrf_token` (every form carries
  `<input type="hidden" name="_csrf" value="{{ csrf_token }}">`), `path`, and the filters
  `when` (a time in the province's zone) and `role_label`;
- an HTTP error raised in a page (`auth.Refused(message)`, web.HTTPNotFound...) is answered as a
  short Vietnamese page (JSON for a JSON request), a database outage as a 503 page, never a
  traceback; `Cache-Control: no-store` on every page (they hold personal data);
- the app's security headers (bot/web/security.py: CSP 'self' only, no framing...) and its one
  session cookie come from the parent app; no inline script or style, no outside asset.

An error's text: `auth.Refused("...")` (403) or `web.HTTPBadRequest(text="...")` shows that text;
otherwise a short one per status. Tests of a page: the fixtures of tests/staff/conftest.py
(`staff_client`, `make_staff`, `login`, `csrf_of`, `post_form`, `assert_refused`, `phone`);
tests/staff/test_auth.py walks every route of the router without a session, new pages included.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource
from aiohttp_session import get_session

from bot.staff import auth, pages
from bot.staff.auth import (
    REQUEST_KEY,
    SERVICES,
    Refused,
    StaffUser,
    check_csrf,
    current_staff,
    services_of,
)

log = logging.getLogger("bot.staff.web")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PREFIX = "/staff"
NAV_KEY = web.AppKey("staff_nav", list)
PUBLIC_KEY = web.AppKey("staff_public", set)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
__all__ = ["build_staff_app", "services_of", "current_staff", "check_csrf", "PREFIX"]

STATUS_TEXT = {
    400: "Yêu cầu không hợp lệ. Kiểm tra lại rồi gửi lại.",
    401: "Chưa đăng nhập.",
    403: "Bạn không được làm việc này.",
    404: "Không có trang này. Quay về trang chính.",
    405: "Không làm được việc này theo cách đó. Quay về trang trước.",
    413: "Dữ liệu gửi lên quá lớn.",
    429: "Quá nhiều yêu cầu. Chờ một lúc rồi thử lại.",
    503: "Hệ thống tạm thời gián đoạn. Chờ ít phút rồi tải lại trang.",
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HTTP errors as a short page, a database outage as a 503, no-store on every page."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = getattr(exc, "message", None) or _own_text(exc)
        message = message or STATUS_TEXT.get(exc.status) or exc.reason
        return error_page(request, exc.status, message, exc.headers)
    except Exception as exc:
        from bot.app import AVAILABILITY_KEY

        availability = request.config_dict.get(AVAILABILITY_KEY)
        tracker = getattr(availability, "tracker", None)
        if tracker is not None and tracker.failed(exc, "serving the staff dashboard"):
            return error_page(request, 503, STATUS_TEXT[503], {"Retry-After": "5"})
        log.exception("staff page %s failed", request.match_info.route.resource)
        return error_page(request, 500, "Có lỗi. Tải lại trang; nếu vẫn lỗi, báo quản trị viên.")
    if not isinstance(response, web.FileResponse) and not response.prepared:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _own_text(exc: web.HTTPException) -> str | None:
    """The text a page gave its HTTP error (`web.HTTPBadRequest(text=...)`), not aiohttp's
    default "400: Bad Request"."""
    text = exc.text
    if not text or text.startswith(f"{exc.status}:") or len(text) > 500:
        return None
    return text


def error_page(
    request: web.Request, status: int, message: str, headers: Any = None
) -> web.Response:
    keep = {
        k: v
        for k, v in (headers or {}).items()
        if k in ("Retry-After", "Allow", "WWW-Authenticate")
    }
    keep["Cache-Control"] = "no-store"
    if auth.wants_json(request):
        return web.json_response({"error": message}, status=status, headers=keep)
    try:
        response = aiohttp_jinja2.render_template(
            "error.html",
            request,
            {"status": status, "message": message},
            status=status,
        )
    except Exception:  # the error page itself must not fail
        response = web.Response(text=message, status=status)
    response.headers.update(keep)
    return response


def _public(request: web.Request) -> bool:
    route = request.match_info.route
    resource = route.resource
    if isinstance(resource, StaticResource):
        return True
    return resource is not None and resource in request.app[PUBLIC_KEY]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route but the public ones needs a logged-in staff user; shutting down: 503."""
    from bot.app import AVAILABILITY_KEY

    availability = request.config_dict.get(AVAILABILITY_KEY)
    if availability is not None and availability.stopping and request.method == "POST":
        raise web.HTTPServiceUnavailable(headers={"Retry-After": "5"})
    if not _public(request):
        await current_staff(request)
    return await handler(request)


async def context(request: web.Request) -> dict[str, Any]:
    staff: StaffUser | None = request.get(REQUEST_KEY)
    nav = []
    if staff is not None:
        for label, path, _order, roles, counter in request.app[NAV_KEY]:
            if roles and staff.role not in roles:
                continue
            count = await counter(request, staff) if counter is not None else 0
            nav.append(
                {"label": label, "path": path, "here": _here(request.path, path), "count": count}
            )
    return {
        "staff": staff,
        "nav": nav,
        "path": request.path,
        "csrf_token": staff.csrf if staff is not None else "",
        "password_min": services_of(request).settings.staff.password_min_length,
    }


def _here(current: str, link: str) -> bool:
    if link.rstrip("/") == PREFIX:
        return current.rstrip("/") == PREFIX
    return current == link or current.startswith(link.rstrip("/") + "/")


# Login and logout


LOGIN_TEMPLATE = "login.html"


async def login_page(request: web.Request) -> web.StreamResponse:
    if await auth.load_staff(request) is not None:
        raise web.HTTPSeeOther(auth.safe_next(request.query.get("next")) or "/staff/")
    await get_session(request)
    return render_login(request, next_=auth.safe_next(request.query.get("next")))


def render_login(
    request: web.Request,
    error: str | None = None,
    status: int = 200,
    name: str = "",
    next_: str | None = None,
    notice: str | None = None,
) -> web.Response:
    return aiohttp_jinja2.render_template(
        LOGIN_TEMPLATE,
        request,
        {
            "staff": None,  # also right after a logout, whose request began logged in
            "nav": [],
            "csrf_token": auth.csrf_token(request),
            "error": error,
            "notice": notice,
            "name": name,
            "next": next_ or "",
        },
        status=status,
    )


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await auth.check_csrf(request)
    name = str(form.get("name") or "")[:200]
    password = str(form.get("password") or "")
    next_ = auth.safe_next(str(form.get("next") or ""))
    result = await auth.login(request, name, password)
    if result.token is None:
        return render_login(request, result.error, result.status, name.strip()[:64], next_)
    raise web.HTTPSeeOther(next_ or "/staff/")


async def logout_submit(request: web.Request) -> web.StreamResponse:
    await check_csrf(request)
    await auth.logout(request)
    await get_session(request)
    return render_login(request, notice="Đã đăng xuất.")


async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    await check_csrf(request)
    ended = await auth.logout(request, everywhere=True)
    await get_session(request)
    return render_login(request, notice=f"Đã đăng xuất khỏi mọi nơi ({ended} phiên).")


# Building the app


def _relative(path: str) -> str:
    if path == PREFIX or path.startswith(PREFIX + "/"):
        path = path[len(PREFIX) :] or "/"
    return path


def discover() -> list[Any]:
    """Every module of bot.staff.pages, by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        found.append(importlib.import_module(f"{pages.__name__}.{info.name}"))
    return found


def add_page(app: web.Application, module: Any, nav: list) -> None:
    routes = getattr(module, "routes", None)
    if routes is not None:
        for route in routes:
            if isinstance(route, web.RouteDef):
                kwargs = dict(route.kwargs)
                app.router.add_route(route.method, _relative(route.path), route.handler, **kwargs)
            elif isinstance(route, web.StaticDef):
                app.router.add_static(_relative(route.prefix), route.path, **route.kwargs)
    entry = getattr(module, "NAV", None)
    if entry:
        label, link, order, roles = entry
        if isinstance(roles, str):
            roles = (roles,)
        # nav_count(request, staff) -> int: a number shown beside the link (what waits there).
        counter = getattr(module, "nav_count", None)
        nav.append((label, link, order, tuple(roles) if roles else None, counter))


def when_filter(timezone: str) -> Callable[..., str]:
    """`{{ row.at | when }}`: a stored (UTC) time in the province's zone, dd/mm/yyyy hh:mm."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)

    def when(value: Any, fmt: str = "%d/%m/%Y %H:%M") -> str:
        if not isinstance(value, datetime):
            return "" if value is None else str(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(zone).strftime(fmt)

    return when


def build_staff_app(services: Any) -> web.Application:
    """The dashboard sub-app; bot/app.py mounts it with `app.add_subapp("/staff/", ...)`."""
    app = web.Application()
    app[SERVICES] = services
    app.middlewares.append(errors)
    app.middlewares.append(guard)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        context_processors=[context],
    )
    env.filters["when"] = when_filter(services.settings.timezone)
    env.filters["role_label"] = lambda role: auth.ROLE_LABELS.get(role, role)
    app.router.add_static("/static/", STATIC, name="static")
    login_get = app.router.add_get("/login", login_page, name="staff_login")
    login_post = app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout_submit, name="staff_logout")
    app.router.add_post("/logout-everywhere", logout_everywhere, name="staff_logout_all")
    app[PUBLIC_KEY] = {login_get.resource, login_post.resource}
    nav: list = []
    for module in discover():
        add_page(app, module, nav)
    app[NAV_KEY] = sorted(nav, key=lambda n: (n[2], n[0]))
    return app


def mount(app: web.Application, services: Any) -> None:
    """/staff/ on `app` (and /staff answered by a redirect to it)."""

    async def to_dashboard(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/staff/")

    app.router.add_get("/staff", to_dashboard)
    app.add_subapp("/staff/", build_staff_app(services))


__all__ += ["Refused", "mount"]
