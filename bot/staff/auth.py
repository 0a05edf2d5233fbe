"""Who is logged in to the dashboard, what they may see, and the CSRF tokens of its forms.

What pages use:

    staff = await current_staff(request)   # the guard loaded it already: no second query
    require(staff, "admin", "province")    # 403 otherwise
    staff.sees(report.area_code)           # a commune account: only its area's subtree
    q = q.where(staff.area_clause(Report.area_code))
    require_area(staff, report.area_code)  # 403 for another area's object
    form = await check_csrf(request)       # every POST: 403 "reload the page" on a bad token
    {{ csrf_token }}                       # in every form, as <input name="_csrf">

Sessions. The app has ONE encrypted cookie session (bot/web/sessions.py), shared with the web
chat: this module never calls new_session() or invalidate(), it keeps its own key
(`STAFF_KEY`) in it. The key holds a random token (256 bits); the database holds only its
SHA-256 (`staff_sessions`), so a dump gives no usable session. A login makes a new token and
deletes the old one's row (rotation); logout deletes the row; "log out everywhere",
deactivation and a new password delete every row of the account. A session ends after
`staff.idle_minutes` unused and `staff.absolute_hours` after its login, whatever the cookie says.
The CSRF token of a session is derived from its token (SHA-256 of "csrf:" + token): it is not
in the database and cannot be derived from what is. Before login, the login form's token is a
random value under `LOGIN_KEY` in the cookie session.

Login (`authenticate`): failures are counted in the database per account name as typed (whether
the account exists or not) and per client address, within `staff.lockout_minutes`; at
`staff.lockout_failures` / `staff.lockout_address_failures` logins are refused until the window
ends. An unknown name is checked against a dummy hash, so it costs what a known one does, and
the answer never says which it was. Passwords are argon2id (argon2-cffi); a hash made with other
parameters than the settings' is redone at the next login.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp_session import get_session
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from multidict import MultiDictProxy
from sqlalchemy import false, or_, true

from bot.storage.repositories import staff as repo
from bot.web.client import client_address, normalise_origin, own_origin

if TYPE_CHECKING:
    from bot.config import StaffSettings
    from bot.core.services import Services

log = logging.getLogger("bot.staff.auth")

STAFF_KEY = "staff"  # the cookie session's key for the staff session token
LOGIN_KEY = "staff_login"  # the login form's CSRF token, before login
REQUEST_KEY = web.RequestKey("staff", object)  # request[REQUEST_KEY]: the guard's StaffUser
SERVICES = web.AppKey("staff_services", object)
ROLES = repo.ROLES
ROLE_LABELS = {"admin": "Quản trị", "province": "Cán bộ tỉnh", "commune": "Cán bộ xã"}
TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often
MAX_PASSWORD = 1024  # longer is refused before hashing (hashing cost is per byte)

RELOAD = "Trang đã cũ hoặc phiên đã đổi. Tải lại trang rồi làm lại."
NOT_LOGGED_IN = "Chưa đăng nhập. Mở /staff/login để đăng nhập."
INACTIVE = "Tài khoản này đã bị khóa. Liên hệ quản trị viên."
NOT_ALLOWED = "Tài khoản của bạn không được dùng trang này."
OTHER_AREA = "Mục này thuộc địa bàn khác, ngoài địa bàn của bạn."
WRONG = "Tên đăng nhập hoặc mật khẩu không đúng."
LOCKED = "Đã thử sai quá nhiều lần. Chờ {minutes} phút rồi thử lại."


class Refused(web.HTTPForbidden):
    """A 403 whose `message` the staff error page shows (bot/staff/web.py)."""

    def __init__(self, message: str) -> None:
        super().__init__(text=message)
        self.message = message


@dataclass(frozen=True)
class StaffUser:
    """A logged-in staff member. `csrf` is their session's form token, `address` the client
    address of the request (audit entries take it)."""

    id: int
    name: str
    role: str
    area_code: str | None = None
    csrf: str = field(default="", repr=False, compare=False)
    address: str | None = field(default=None, compare=False)
    session_id: int | None = field(default=None, repr=False, compare=False)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def sees(self, area_code: str | None) -> bool:
        """Whether this account may see an object of `area_code`: province and admin see every
        area; a commune account its area and what is under it (dotted-code prefix)."""
        if self.role != "commune":
            return True
        if not area_code or not self.area_code:
            return False
        return area_code == self.area_code or area_code.startswith(self.area_code + ".")

    def area_clause(self, column: Any) -> Any:
        """An SQL condition on an area-code column: the commune account's subtree (the area
        itself or a code that starts with it and a dot; `_` in codes escaped), true otherwise."""
        if self.role != "commune":
            return true()
        if not self.area_code:
            return false()
        return or_(
            column == self.area_code, column.startswith(self.area_code + ".", autoescape=True)
        )


def services_of(request: web.Request) -> Services:
    return request.config_dict[SERVICES]  # type: ignore[return-value]


def require(staff: StaffUser, *roles: str) -> StaffUser:
    """403 unless the account has one of `roles`."""
    if staff.role not in roles:
        raise Refused(NOT_ALLOWED)
    return staff


def require_area(staff: StaffUser, area_code: str | None) -> StaffUser:
    """403 unless the account sees `area_code`."""
    if not staff.sees(area_code):
        raise Refused(OTHER_AREA)
    return staff


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_of(token: str) -> str:
    return hashlib.sha256(b"csrf:" + token.encode("utf-8")).hexdigest()


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def not_logged_in(request: web.Request) -> web.HTTPException:
    """GET: to the login page, back here afterwards; POST or JSON: 403."""
    if request.method in ("GET", "HEAD") and not wants_json(request):
        target = request.rel_url.path_qs
        query = {"next": target} if safe_next(target) and target != "/staff/" else {}
        return web.HTTPFound(str(request.app.router["staff_login"].url_for().with_query(query)))
    return Refused(NOT_LOGGED_IN)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a dashboard path of this site (no open redirect), else None."""
    if not target or not target.startswith("/staff/") or "//" in target or "\\" in target:
        return None
    if any(ord(c) < 0x20 for c in target):
        return None
    return target


# Password hashing


_hashers: dict[tuple[int, int, int], tuple[PasswordHasher, str]] = {}


def hasher(settings: StaffSettings) -> PasswordHasher:
    return _hasher(settings)[0]


def _hasher(settings: StaffSettings) -> tuple[PasswordHasher, str]:
    key = (settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    got = _hashers.get(key)
    if got is None:
        ph = PasswordHasher(time_cost=key[0], memory_cost=key[1], parallelism=key[2])
        got = _hashers[key] = (ph, ph.hash(secrets.token_urlsafe(16)))  # the dummy
    return got


def password_problem(password: str, settings: StaffSettings) -> str | None:
    """Why `password` cannot be used (Vietnamese, short), or None."""
    if len(password) < settings.password_min_length:
        return f"Mật khẩu cần ít nhất {settings.password_min_length} ký tự."
    if len(password) > MAX_PASSWORD:
        return f"Mật khẩu dài quá {MAX_PASSWORD} ký tự."
    if password != password.strip():
        return "Mật khẩu không được bắt đầu hay kết thúc bằng khoảng trắng."
    return None


async def hash_password(password: str, settings: StaffSettings) -> str:
    return await asyncio.to_thread(hasher(settings).hash, password)


def _verify(settings: StaffSettings, stored: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs a rehash); an unknown account checks a dummy hash (the same cost)."""
    ph, dummy = _hasher(settings)
    try:
        ph.verify(stored or dummy, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    if stored is None:
        return False, False
    return True, ph.check_needs_rehash(stored)


async def verify_password(settings: StaffSettings, stored: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    return (await asyncio.to_thread(_verify, settings, stored, password))[0]


# Login, sessions


@dataclass(frozen=True)
class LoginResult:
    account_id: int | None = None
    error: str | None = None
    status: int = 200
    token: str | None = None


async def authenticate(
    services: Services, name: str, password: str, address: str, old_token: str | None = None
) -> LoginResult:
    """Check a login; on success a new session (the old token's row deleted) and its token.
    Every outcome is in the audit log. Never says whether the account exists."""
    from bot.staff import audit

    st = services.settings.staff
    key = repo.normalise_name(name)[:100]
    window = timedelta(minutes=st.lockout_minutes)
    counters = [(repo.ADDRESS, address)] + ([(repo.ACCOUNT, key)] if key else [])
    async with services.writing() as db:
        # The try is counted before its password is checked (argon2 takes a tenth of a second):
        # tries sent at once cannot each read "under the limit" and all be checked. A failure
        # keeps its row; a success drops it.
        await repo.lock_attempts(db, counters)
        by_name = await repo.failures(db, repo.ACCOUNT, key, window) if key else 0
        by_address = await repo.failures(db, repo.ADDRESS, address, window)
        locked = by_name >= st.lockout_failures or by_address >= st.lockout_address_failures
        reserved: list[int] = []
        if not locked:
            rows = [repo.add_failure(db, kind, k) for kind, k in counters]
            await db.flush()
            reserved = [r.id for r in rows]
        account = await repo.account_by_name(db, key) if key else None
        known = account.id if account is not None else None
        stored = account.password_hash if account is not None else None
        active = account.active if account is not None else False
        account_name = account.name if account is not None else None
        await db.commit()
    if locked:
        # One entry per window, address and account: a locked-out guesser who keeps trying
        # must not fill the audit log.
        target = account_name
        async with services.writing() as db:
            since = repo.now() - window
            if not await repo.audit_seen(db, "login.locked", since, address, target):
                await audit.record(
                    db,
                    None,
                    "login.locked",
                    target=target,
                    detail={"by": "account" if by_name >= st.lockout_failures else "address"},
                    address=address,
                    staff_id=known,
                    staff_name=target,
                )
                await db.commit()
        return LoginResult(error=LOCKED.format(minutes=round(st.lockout_minutes)), status=429)
    if len(password) > MAX_PASSWORD or not key:
        stored = None
        password = password[:MAX_PASSWORD]
    ok, rehash = await asyncio.to_thread(_verify, st, stored, password)
    if ok and not active:
        ok = False
    if not ok:
        async with services.writing() as db:  # the failure was counted before the check
            await audit.record(
                db,
                None,
                "login.failed",
                target=account_name,
                address=address,
                staff_id=known,
                staff_name=account_name,
            )
            await db.commit()
        return LoginResult(error=WRONG, status=401)
    new_hash = await hash_password(password, st) if rehash else None
    token = secrets.token_urlsafe(32)
    async with services.writing() as db:
        await repo.drop_attempts(db, reserved)
        account = await repo.account_by_id(db, known)  # type: ignore[arg-type]
        if account is None or not account.active or account.password_hash != stored:
            await db.commit()
            return LoginResult(error=WRONG, status=401)  # changed meanwhile: try again
        if old_token:
            await repo.end_session(db, token_hash(old_token))
        if new_hash:
            repo.set_password(account, new_hash, changed=False)
        account.last_login_at = repo.now()
        await repo.clear_failures(db, repo.ACCOUNT, key)
        # What has expired goes (no job needed: logins are rare and both tables small).
        await repo.purge_failures(db, window)
        await repo.purge_sessions(
            db, timedelta(minutes=st.idle_minutes), timedelta(hours=st.absolute_hours)
        )
        row = repo.add_session(db, account.id, token_hash(token))
        await db.flush()
        await audit.record(
            db,
            None,
            "login",
            target=account.name,
            detail={"rehashed": True} if new_hash else None,
            address=address,
            staff_id=account.id,
            staff_name=account.name,
        )
        await db.commit()
        log.info("staff login: account %s, session %s", account.id, row.id)
    return LoginResult(account_id=account.id, token=token)


async def login(request: web.Request, name: str, password: str) -> LoginResult:
    """`authenticate` for this request; on success the token goes in the cookie session."""
    services = services_of(request)
    session = await get_session(request)
    old = session.get(STAFF_KEY)
    result = await authenticate(
        services,
        name,
        password,
        client_address(request, services.settings.web),
        old if isinstance(old, str) else None,
    )
    if result.token is not None:
        session[STAFF_KEY] = result.token
        session.pop(LOGIN_KEY, None)
        request.pop(REQUEST_KEY, None)
    return result


async def logout(request: web.Request, everywhere: bool = False) -> int:
    """End this session (or every session of the account): how many ended."""
    from bot.staff import audit

    staff = await current_staff(request)
    session = await get_session(request)
    token = session.get(STAFF_KEY)
    services = services_of(request)
    async with services.writing() as db:
        if everywhere:
            ended = await repo.end_sessions(db, staff.id)
        else:
            ended = await repo.end_session(db, token_hash(token)) if isinstance(token, str) else 0
        await audit.record(
            db, staff, "logout.everywhere" if everywhere else "logout", detail={"ended": ended}
        )
        await db.commit()
    session.pop(STAFF_KEY, None)
    request.pop(REQUEST_KEY, None)
    return ended


async def load_staff(request: web.Request) -> StaffUser | None:
    """The request's staff user from its cookie session and the database, or None; an expired
    session is deleted; a deactivated account is a 403."""
    if REQUEST_KEY in request:
        return request[REQUEST_KEY]
    session = await get_session(request)
    token = session.get(STAFF_KEY)
    if not isinstance(token, str) or not token:
        return None
    services = services_of(request)
    st = services.settings.staff
    digest = token_hash(token)
    async with services.sessionmaker() as db:
        got = await repo.session_by_token(db, digest)
    if got is None:
        session.pop(STAFF_KEY, None)
        return None
    row, account = got
    at = repo.now()
    expired = row.last_seen_at < at - timedelta(minutes=st.idle_minutes) or (
        row.created_at < at - timedelta(hours=st.absolute_hours)
    )
    if expired or not account.active:
        async with services.writing() as db:
            await repo.end_session(db, digest)
            await db.commit()
        session.pop(STAFF_KEY, None)
        if not account.active:
            raise Refused(INACTIVE)
        return None
    if at - row.last_seen_at > TOUCH_EVERY:
        async with services.writing() as db:
            await repo.touch_session(db, row.id)
            await db.commit()
    staff = StaffUser(
        id=account.id,
        name=account.name,
        role=account.role,
        area_code=account.area_code,
        csrf=csrf_of(token),
        address=client_address(request, services.settings.web),
        session_id=row.id,
    )
    request[REQUEST_KEY] = staff
    return staff


async def current_staff(request: web.Request) -> StaffUser:
    """The logged-in staff user; not logged in: a redirect to the login page (GET) or a 403."""
    staff = await load_staff(request)
    if staff is None:
        raise not_logged_in(request)
    return staff


# CSRF


def csrf_token(request: web.Request) -> str:
    """The token every form of this request's page carries as `_csrf`: the staff session's;
    before login, the login form's (kept in the cookie session, which the caller has loaded
    with `await get_session(request)`)."""
    staff = request.get(REQUEST_KEY)
    if staff is not None:
        return staff.csrf
    from aiohttp_session import SESSION_KEY

    session = request.get(SESSION_KEY)
    if session is None:
        raise RuntimeError("csrf_token: await aiohttp_session.get_session(request) first")
    token = session.get(LOGIN_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = session[LOGIN_KEY] = secrets.token_urlsafe(32)
    return token


def cross_site(request: web.Request) -> bool:
    """A request another site's page made (Sec-Fetch-Site, or an Origin not ours)."""
    if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    ours = own_origin(request, services_of(request).settings.web)
    return normalise_origin(origin) != ours or ours is None


async def check_csrf(request: web.Request) -> MultiDictProxy:
    """The POST form of `request`, after checking its `_csrf` field (and that no other site
    sent it); a 403 page that says to reload otherwise."""
    if cross_site(request):
        raise Refused(RELOAD)
    await get_session(request)
    expected = csrf_token(request)
    try:
        form = await request.post()
    except (ValueError, web.HTTPException):
        raise Refused("Biểu mẫu không đọc được. Tải lại trang rồi gửi lại.") from None
    given = form.get("_csrf")
    if not isinstance(given, str) or not hmac.compare_digest(
        given.encode("utf-8", "replace"), expected.encode("utf-8")
    ):
        raise Refused(RELOAD)
    return form
