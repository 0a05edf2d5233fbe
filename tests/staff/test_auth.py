"""Logging in and out of the dashboard: sessions (rotation, expiry, logout everywhere,
deactivation), lockout per account and per address, CSRF, cookie flags, every route refused
without a session, area subtrees, password hashing."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.staff import auth
from bot.storage.models import AuditEntry, Report, StaffAccount, StaffSession
from bot.storage.repositories import staff as repo
from tests.staff.conftest import CSRF_RE, csrf_from

# What does not depend on the database runs on SQLite only; sessions, lockout and the area
# clause run on both.
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def _rows(services, model, *where):
    async with services.sessionmaker() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


async def _try_login(client, name, password):
    token = await csrf_from(client, "/staff/login")
    return await client.post(
        "/staff/login",
        data={"_csrf": token, "name": name, "password": password},
        allow_redirects=False,
    )


def _staff_settings(services, **changes):
    services.settings = dataclasses.replace(
        services.settings, staff=dataclasses.replace(services.settings.staff, **changes)
    )


async def test_login_and_logout(staff_client, make_staff, login, services):
    admin = await make_staff("admin")
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/staff/login"
    await login(staff_client, admin)
    r = await staff_client.get("/staff/")
    assert r.status == 200
    text = await r.text()
    assert admin.name in text and "Đăng xuất" in text
    token = CSRF_RE.search(text).group(1)
    r = await staff_client.post("/staff/logout", data={"_csrf": token}, allow_redirects=False)
    text = await r.text()
    assert r.status == 200 and "Đã đăng xuất" in text
    assert admin.name not in text and "/staff/logout" not in text  # no menu, no name
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 302
    assert await _rows(services, StaffSession) == []
    actions = [e.action for e in await _rows(services, AuditEntry)]
    assert actions == ["login", "logout"]


async def test_login_keeps_the_web_chat_user_in_the_shared_cookie(
    staff_client, make_staff, login, services
):
    """The web chat's `web_user` lives in the same cookie session: a staff login and logout
    must not drop it (no new_session(), no invalidate())."""
    from bot.storage.models import User

    await staff_client.get("/")

    async def chat(n: int) -> None:
        r = await staff_client.post(
            "/api/messages", json={"text": "/start", "message_id": f"message{n:04d}"}
        )
        assert r.status == 200, await r.text()

    await chat(1)
    admin = await make_staff("admin")
    await login(staff_client, admin)
    await chat(2)
    token = await csrf_from(staff_client, "/staff/")
    await staff_client.post("/staff/logout", data={"_csrf": token})
    await chat(3)
    web_users = await _rows(services, User, User.channel == "web")
    assert len(web_users) == 1  # one web chat user throughout: its session survived


@SQLITE
async def test_next_goes_back_to_the_page_and_never_elsewhere(staff_client, make_staff):
    admin = await make_staff("admin")
    r = await staff_client.get("/staff/audit?action=login", allow_redirects=False)
    assert r.headers["Location"] == "/staff/login?next=/staff/audit?action%3Dlogin"
    token = await csrf_from(staff_client, r.headers["Location"])
    r = await staff_client.post(
        "/staff/login",
        data={"_csrf": token, "name": admin.name, "password": admin.password, "next": "//x.y/"},
        allow_redirects=False,
    )
    assert r.status == 303 and r.headers["Location"] == "/staff/"
    assert auth.safe_next("/staff/audit") == "/staff/audit"
    for bad in ("//evil.example/", "https://evil.example/", "/staff//evil", "/\\evil", "/x"):
        assert auth.safe_next(bad) is None


async def test_the_session_rotates_at_login(services, make_staff):
    admin = await make_staff("admin")
    first = await auth.authenticate(services, admin.name, admin.password, "10.0.0.1")
    second = await auth.authenticate(
        services, admin.name, admin.password, "10.0.0.1", old_token=first.token
    )
    assert first.token and second.token and first.token != second.token
    rows = await _rows(services, StaffSession)
    assert [r.token_hash for r in rows] == [auth.token_hash(second.token)]  # the old one went
    assert first.token not in {r.token_hash for r in rows}  # only hashes are stored


@SQLITE
async def test_the_cookie_changes_at_login(staff_client, make_staff):
    admin = await make_staff("admin")
    token = await csrf_from(staff_client, "/staff/login")
    before = staff_client.session.cookie_jar.filter_cookies(staff_client.make_url("/"))
    r = await staff_client.post(
        "/staff/login",
        data={"_csrf": token, "name": admin.name, "password": admin.password},
        allow_redirects=False,
    )
    assert r.status == 303
    assert "langso_session" in r.cookies
    assert r.cookies["langso_session"].value != before["langso_session"].value


@pytest.mark.parametrize("column", ["last_seen_at", "created_at"])
async def test_sessions_expire_idle_and_absolute(staff_client, make_staff, login, services, column):
    admin = await make_staff("admin")
    await login(staff_client, admin)
    assert (await staff_client.get("/staff/", allow_redirects=False)).status == 200
    st = services.settings.staff
    age = (
        timedelta(minutes=st.idle_minutes + 1)
        if column == "last_seen_at"
        else timedelta(hours=st.absolute_hours + 1)
    )
    async with services.writing() as s:
        await s.execute(update(StaffSession).values({column: repo.now() - age}))
        await s.commit()
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith("/staff/login")
    assert await _rows(services, StaffSession) == []


@SQLITE
async def test_a_busy_session_is_kept_alive(staff_client, make_staff, login, services):
    admin = await make_staff("admin")
    await login(staff_client, admin)
    st = services.settings.staff
    old = repo.now() - timedelta(minutes=st.idle_minutes - 1)
    async with services.writing() as s:
        await s.execute(update(StaffSession).values(last_seen_at=old))
        await s.commit()
    assert (await staff_client.get("/staff/", allow_redirects=False)).status == 200
    [row] = await _rows(services, StaffSession)
    assert row.last_seen_at > old + timedelta(minutes=1)


async def test_logout_everywhere(new_client, make_staff, login, services):
    admin = await make_staff("admin")
    phone, desk = await new_client(), await new_client()
    await login(phone, admin)
    await login(desk, admin)
    assert len(await _rows(services, StaffSession)) == 2
    token = await csrf_from(phone, "/staff/")
    r = await phone.post("/staff/logout-everywhere", data={"_csrf": token})
    assert r.status == 200 and "2 phiên" in await r.text()
    assert (await desk.get("/staff/", allow_redirects=False)).status == 302
    assert await _rows(services, StaffSession) == []


async def test_a_deactivated_account_is_out(new_client, make_staff, login, services, post_form):
    admin, clerk = await make_staff("admin"), await make_staff("province")
    boss, other = await new_client(), await new_client()
    await login(boss, admin)
    await login(other, clerk)
    r = await post_form(
        boss, f"/staff/accounts/{clerk.name}/active", {"active": "0"}, "/staff/accounts"
    )
    assert r.status == 303
    assert (await other.get("/staff/", allow_redirects=False)).status == 302
    r = await _try_login(other, clerk.name, clerk.password)
    assert r.status == 401 and auth.WRONG in await r.text()


async def test_an_inactive_account_with_a_session_row_is_refused(
    staff_client, make_staff, login, services
):
    """Deactivated behind the app's back (the row left): 403, and the row goes."""
    clerk = await make_staff("province")
    await login(staff_client, clerk)
    async with services.writing() as s:
        await s.execute(update(StaffAccount).values(active=False))
        await s.commit()
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 403 and "khóa" in await r.text()
    assert await _rows(services, StaffSession) == []


async def test_lockout_per_account_whether_or_not_it_exists(staff_client, make_staff, services):
    admin = await make_staff("admin")
    limit = services.settings.staff.lockout_failures
    for name in (admin.name, "nobody-here"):
        for _ in range(limit):
            r = await _try_login(staff_client, name, "wrong password!!")
            assert r.status == 401 and auth.WRONG in await r.text()
        for _ in range(3):
            r = await _try_login(staff_client, name, admin.password)
            assert r.status == 429
            assert "quá nhiều lần" in await r.text()
    # The right password while locked does not get in; nor does it reveal that it was right.
    assert await _rows(services, StaffSession) == []
    # The lock is in the database: another process (a new app on the same database) sees it.
    from bot.app import build_web_app, build_worker

    engine = services.sessionmaker.kw["bind"]
    from bot.app import build_pipeline

    other = TestServer(build_web_app(services, engine, build_worker(build_pipeline(services))))
    async with TestClient(other) as fresh:
        r = await _try_login(fresh, admin.name, admin.password)
        assert r.status == 429
    # The window passes: the right password gets in again.
    async with services.writing() as s:
        from bot.storage.models import StaffLoginAttempt

        await s.execute(update(StaffLoginAttempt).values(at=repo.now() - timedelta(minutes=16)))
        await s.commit()
    r = await _try_login(staff_client, admin.name, admin.password)
    assert r.status == 303
    audit = [e.action for e in await _rows(services, AuditEntry)]
    assert audit.count("login.failed") == 2 * limit
    # One "locked" entry per account (the unknown name's names none), address and window,
    # however many tries while locked (the one through the other app included).
    assert audit.count("login.locked") == 2


async def test_tries_sent_at_once_are_each_counted_before_the_check(services, make_staff):
    """Each try is counted before its password is checked: a burst of guesses cannot all read
    "under the limit" while the others are being checked (SQLite and PostgreSQL)."""
    import asyncio

    admin = await make_staff("admin")
    limit = services.settings.staff.lockout_failures
    got = await asyncio.gather(
        *(
            auth.authenticate(services, admin.name, f"wrong guess {n}!!", f"10.9.0.{n}")
            for n in range(3 * limit)
        )
    )
    statuses = [r.status for r in got]
    assert statuses.count(401) == limit and statuses.count(429) == 2 * limit
    # The right password afterwards is refused too, and a success drops only its own count.
    assert (await auth.authenticate(services, admin.name, admin.password, "10.9.1.1")).status == 429


@SQLITE
async def test_lockout_per_address(new_client, make_staff, services, settings):
    _staff_settings(services, lockout_address_failures=3)
    admin = await make_staff("admin")
    client = await new_client()
    for n in range(3):
        r = await _try_login(client, f"guess{n}", "wrong password!!")
        assert r.status == 401
    r = await _try_login(client, admin.name, admin.password)  # a name never tried
    assert r.status == 429


@SQLITE
async def test_an_unknown_name_costs_a_hash(services, monkeypatch, make_staff):
    """Constant-time-ish: an unknown account's password is checked against a dummy hash."""
    calls = []
    real = auth._verify

    def counting(settings, stored, password):
        calls.append(stored)
        return real(settings, stored, password)

    monkeypatch.setattr(auth, "_verify", counting)
    result = await auth.authenticate(services, "no-such-name", "some password!!", "10.0.0.2")
    assert result.error == auth.WRONG and calls == [None]
    ph, dummy = auth._hasher(services.settings.staff)
    assert auth._verify(services.settings.staff, None, "x") == (False, False)


@SQLITE
async def test_a_hash_with_old_parameters_is_redone_at_login(services, make_staff):
    admin = await make_staff("admin")  # argon2 t=1, m=8 KiB
    [before] = await _rows(services, StaffAccount)
    _staff_settings(services, argon2_time_cost=2, argon2_memory_kib=16)
    result = await auth.authenticate(services, admin.name, admin.password, "10.0.0.3")
    assert result.token
    [after] = await _rows(services, StaffAccount)
    assert after.password_hash != before.password_hash
    assert "t=2" in after.password_hash and "m=16" in after.password_hash
    assert not auth.hasher(services.settings.staff).check_needs_rehash(after.password_hash)
    result = await auth.authenticate(services, admin.name, admin.password, "10.0.0.3")
    assert result.token  # the new hash verifies


@SQLITE
async def test_csrf_is_checked_on_every_post(staff_client, make_staff, login):
    admin = await make_staff("admin")
    r = await staff_client.post(
        "/staff/login", data={"name": admin.name, "password": admin.password}
    )
    assert r.status == 403 and "Tải lại trang" in await r.text()
    await login(staff_client, admin)
    good = await csrf_from(staff_client, "/staff/")
    for data in ({}, {"_csrf": ""}, {"_csrf": good[:-1] + "x"}, {"_csrf": "é" * 10}):
        r = await staff_client.post("/staff/logout", data=data, allow_redirects=False)
        assert r.status == 403, data
        assert "Tải lại trang" in await r.text()
    # The right token from another site's page is refused too.
    r = await staff_client.post(
        "/staff/logout",
        data={"_csrf": good},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert r.status == 403
    r = await staff_client.post(
        "/staff/logout", data={"_csrf": good}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status == 403
    # Still logged in; with the right token the logout works.
    r = await staff_client.post("/staff/logout", data={"_csrf": good}, allow_redirects=False)
    assert r.status == 200


@SQLITE
async def test_another_accounts_token_does_not_do(new_client, make_staff, login):
    one, two = await new_client(), await new_client()
    await login(one, await make_staff("admin"))
    await login(two, await make_staff("admin"))
    theirs = await csrf_from(two, "/staff/")
    r = await one.post("/staff/logout", data={"_csrf": theirs}, allow_redirects=False)
    assert r.status == 403


def _sample_path(resource) -> str | None:
    """A concrete path a resource matches ({id:\\d+} -> 1, {name} -> abc1...)."""
    info = resource.get_info()
    if "path" in info:
        return info["path"]
    formatter = info.get("formatter")
    if not formatter:
        return None
    for sample in ("1", "abc1", "qng.ba_dong", "a" * 8, "2026-11"):
        path = re.sub(r"\{[^}]+\}", sample, formatter)
        if resource._match(path) is not None:
            return path
    return None


def staff_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves under /staff/ but the public ones."""
    found = []
    for resource in app.router.resources():
        prefix = getattr(resource, "_prefix", None)
        if prefix == "/staff" and hasattr(resource, "_app"):
            sub = resource._app
            for res in sub.router.resources():
                if res.canonical in ("/staff/login", "/staff/static"):
                    continue
                path = _sample_path(res)
                assert path, f"no sample path for {res.canonical}: extend _sample_path"
                for route in res:
                    if route.method != "HEAD":
                        found.append((route.method, path))
    return found


@SQLITE
async def test_every_staff_route_is_refused_without_login(staff_client, staff_server):
    routes = staff_routes(staff_server.app)
    assert ("GET", "/staff/") in routes and ("GET", "/staff/audit") in routes
    assert len(routes) >= 10
    for method, path in routes:
        r = await staff_client.request(method, path, allow_redirects=False)
        if method == "GET":
            assert r.status == 302, (method, path, r.status)
            assert r.headers["Location"].startswith("/staff/login")
            r = await staff_client.get(
                path, headers={"Accept": "application/json"}, allow_redirects=False
            )
            assert r.status == 403, (path, r.status)
            assert "error" in await r.json()
        else:
            assert r.status == 403, (method, path, r.status)
        assert "Location" not in r.headers or method == "GET"
    # An unknown /staff/ path says nothing either until logged in.
    r = await staff_client.get("/staff/no-such-page", allow_redirects=False)
    assert r.status == 302
    # The public ones: the login page and the stylesheet.
    assert (await staff_client.get("/staff/login")).status == 200
    assert (await staff_client.get("/staff/static/staff.css")).status == 200


@SQLITE
async def test_cookie_flags_over_forwarded_https(app_parts, make_staff, settings):
    """Behind a trusted HTTPS proxy: the session cookie is Secure, HttpOnly, SameSite=Lax."""
    from bot.app import build_web_app, build_worker

    services, engine, pipeline = app_parts
    services.settings = dataclasses.replace(
        settings, web=dataclasses.replace(settings.web, trust_proxy=True)
    )
    admin = await make_staff("admin")
    app = build_web_app(services, engine, build_worker(pipeline))
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/staff/login", headers=https)
        token = CSRF_RE.search(await r.text()).group(1)
        # A Secure cookie: the test client (plain HTTP to the proxy's back end) sends it by hand.
        sent = r.cookies["langso_session"]
        assert sent["secure"] and sent["httponly"]
        r = await client.post(
            "/staff/login",
            data={"_csrf": token, "name": admin.name, "password": admin.password},
            headers={**https, "Cookie": f"langso_session={sent.value}"},
            allow_redirects=False,
        )
        assert r.status == 303
        [cookie] = [c for c in r.headers.getall("Set-Cookie") if c.startswith("langso_session=")]
        flags = {p.strip().split("=")[0].lower() for p in cookie.split(";")[1:]}
        assert {"httponly", "secure", "samesite"} <= flags, cookie
        assert "samesite=lax" in cookie.lower()
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        [entry] = [e for e in await _rows(services, AuditEntry) if e.action == "login"]
        assert entry.address == "203.0.113.9"  # the proxy's client, as the audit log shows
        # The same app over plain HTTP: no Secure flag (the browser would drop the cookie).
        r = await client.get("/staff/login", headers={"X-Forwarded-For": "203.0.113.9"})
        [cookie] = [c for c in r.headers.getall("Set-Cookie") if c.startswith("langso_session=")]
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower()


@SQLITE
async def test_pages_keep_the_security_headers(staff_client, make_staff, login):
    for path in ("/staff/login", "/staff/static/staff.css"):
        r = await staff_client.get(path)
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    await login(staff_client, await make_staff("admin"))
    r = await staff_client.get("/staff/accounts")
    assert r.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    body = await r.text()
    assert "<script" not in body and "style=" not in body  # nothing the CSP would block
    assert "http://" not in body.replace("http://127.0.0.1", "") and "https://" not in body


@SQLITE
async def test_a_role_not_allowed_gets_403(new_client, make_staff, login, assert_refused):
    commune = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
    await assert_refused(commune, "GET", "/staff/accounts")
    await assert_refused(commune, "GET", "/staff/audit")
    r = await commune.get("/staff/")
    text = await r.text()
    assert "/staff/accounts" not in text and "/staff/audit" not in text  # not in its menu
    assert "xã Ba Động" in text


async def test_area_subtree_by_prefix(services):
    """`sees` and `area_clause` agree: the area and below, by dotted prefix; a sibling whose code
    starts the same is not in it, and `_` in a code is not a LIKE wildcard."""
    user = auth.StaffUser(1, "c", "commune", "qng.ba_dong")
    codes = {
        "qng.ba_dong": True,
        "qng.ba_dong.lang_1": True,
        "qng.ba_dongx": False,
        "qng.ba_dong2.lang_1": False,
        "qng.baxdong.lang_1": False,
        "qng": False,
        "qng.an_phu": False,
    }
    async with services.writing() as s:
        for n, code in enumerate(codes):
            s.add(
                Report(
                    project=1,
                    indicator="x",
                    area_code=code,
                    period="2026-11",
                    value=n,
                    officer_role="officer",
                    channel="web",
                )
            )
        await s.commit()
    async with services.sessionmaker() as s:
        got = set(
            (await s.execute(select(Report.area_code).where(user.area_clause(Report.area_code))))
            .scalars()
            .all()
        )
        everyone = auth.StaffUser(2, "p", "province")
        q = select(Report.area_code).where(everyone.area_clause(Report.area_code))
        assert len((await s.execute(q)).scalars().all()) == len(codes)
        unbound = auth.StaffUser(3, "u", "commune", None)
        q = select(Report.area_code).where(unbound.area_clause(Report.area_code))
        assert (await s.execute(q)).scalars().all() == []
    assert got == {c for c, inside in codes.items() if inside}
    assert {c: user.sees(c) for c in codes} == codes
    assert not user.sees(None) and everyone.sees(None)
    with pytest.raises(auth.Refused):
        auth.require_area(user, "qng.an_phu")
    assert auth.require_area(user, "qng.ba_dong.lang_1") is user


@SQLITE
async def test_shutting_down_refuses_staff_posts(staff_client, staff_server, make_staff, login):
    from bot.app import AVAILABILITY_KEY

    await login(staff_client, await make_staff("admin"))
    token = await csrf_from(staff_client, "/staff/")
    staff_server.app[AVAILABILITY_KEY].stop_accepting()
    r = await staff_client.post("/staff/logout", data={"_csrf": token})
    assert r.status == 503 and r.headers["Retry-After"]
    assert "Traceback" not in await r.text()


@SQLITE
async def test_a_page_error_is_a_short_page(staff_client, make_staff, login):
    await login(staff_client, await make_staff("admin"))
    r = await staff_client.get("/staff/accounts/nobody-like-this")
    assert r.status == 404 and "Không có trang này" in await r.text()
    r = await staff_client.get("/staff/logout")
    assert r.status == 405
    r = await staff_client.get("/staff/audit?before=" + "9" * 40)
    assert r.status == 200


@SQLITE
async def test_own_site_when_a_staff_port_is_set(app_parts, settings):
    from bot.app import build_dashboard_app, build_web_app, build_worker

    services, engine, pipeline = app_parts
    services.settings = dataclasses.replace(
        settings, staff=dataclasses.replace(settings.staff, port=8099)
    )
    main = build_web_app(services, engine, build_worker(pipeline))
    async with TestClient(TestServer(main)) as client:
        assert (await client.get("/staff/login")).status == 404
        assert (await client.get("/")).status == 200
    dash = build_dashboard_app(services, engine)
    async with TestClient(TestServer(dash)) as client:
        r = await client.get("/staff/login")
        assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert (await client.get("/healthz")).status == 200


@SQLITE
async def test_a_page_that_forgets_to_ask_is_still_refused(app_parts):
    """The guard, not each page, keeps every non-public route behind the login."""
    import types

    from aiohttp import web

    from bot.staff import web as staff_web
    from bot.web.security import install

    services = app_parts[0]
    module = types.SimpleNamespace(routes=web.RouteTableDef(), NAV=("X", "/staff/x", 50, None))

    @module.routes.get("/staff/forgetful")
    async def forgetful(request):
        return web.Response(text="secret")

    @module.routes.post("/forgetful")
    async def forgetful_post(request):
        return web.Response(text="done")

    staff_app = staff_web.build_staff_app(services)
    nav: list = []
    staff_web.add_page(staff_app, module, nav)
    assert nav == [("X", "/staff/x", 50, None, None)]  # no nav_count
    app = web.Application()
    install(app, services.settings)
    app.add_subapp("/staff/", staff_app)
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/staff/forgetful", allow_redirects=False)
        assert r.status == 302 and "secret" not in await r.text()
        r = await client.post("/staff/forgetful", allow_redirects=False)
        assert r.status == 403


@SQLITE
async def test_a_database_outage_is_a_503_page(staff_client, make_staff, login, monkeypatch):
    from sqlalchemy import exc as sa_exc

    await login(staff_client, await make_staff("admin"))

    async def away(*_a, **_k):
        raise sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached")

    monkeypatch.setattr(repo, "session_by_token", away)
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 503 and r.headers["Retry-After"]
    text = await r.text()
    assert "gián đoạn" in text and "Traceback" not in text and "QueuePool" not in text

    async def bug(*_a, **_k):
        raise RuntimeError("a bug with a secret detail")

    monkeypatch.setattr(repo, "session_by_token", bug)
    r = await staff_client.get("/staff/", allow_redirects=False)
    assert r.status == 500
    text = await r.text()
    assert "Traceback" not in text and "secret detail" not in text and "báo quản trị viên" in text


@SQLITE
async def test_a_real_process_serves_the_dashboard_on_staff_port(db_url, tmp_path):
    """`STAFF_PORT` set: `python -m bot run` serves /staff/ there, and not on the chat's port."""
    import aiohttp

    from tests.processes import BotProcess, free_port

    staff_port = free_port()
    env = {"DATABASE_URL": db_url, "STAFF_PORT": str(staff_port), "STAFF_HOST": "127.0.0.1"}
    proc = await BotProcess(env, tmp_path / "bot.log").start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{proc.url}/staff/login", allow_redirects=False) as r:
                assert r.status == 404
            async with http.get(f"{proc.url}/") as r:
                assert r.status == 200
            base = f"http://127.0.0.1:{staff_port}"
            async with http.get(f"{base}/staff/login") as r:
                assert r.status == 200 and "Đăng nhập" in await r.text()
                assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            async with http.get(f"{base}/staff/", allow_redirects=False) as r:
                assert r.status == 302
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
    finally:
        assert await proc.terminate() == 0, proc.tail()
