"""Fixtures for every staff-page test: the full web app (web chat, /staff/, /open-data/) on the
`db_url` databases (SQLite and PostgreSQL), accounts, logged-in clients, CSRF tokens, a phone-sized
Chromium.

    async def test_my_page(staff_client, make_staff, login, csrf_of, post_form):
        admin = await make_staff("admin")
        client = await login(staff_client, admin)           # the session cookie is in its jar
        page = await client.get("/staff/mine")
        token = await csrf_of(client, "/staff/mine")         # the _csrf of that page's forms
        r = await post_form(client, "/staff/mine/do", {"x": "1"})  # fetches a token itself
        other = await login(await new_client(), await make_staff("commune", "qng.ba_dong"))
        await assert_refused(other, "GET", "/staff/mine/42")  # a 403 page, not a redirect

`settings` here is the shared one with cheap argon2 parameters (tests log in often).
`browser` is Debian's Chromium (as tests/channels/test_web_browser.py launches it); `phone` a
360x640 page of it that records requests leaving 127.0.0.1 (`phone.outside`) and console errors
(`phone.errors`); screenshots go to `SHOTS` (var/screenshots).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings

PASSWORD = "mật khẩu đủ dài 2026"
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_names = itertools.count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, argon2 made cheap (the production parameters are tested apart)."""
    staff = dataclasses.replace(
        settings.staff, argon2_time_cost=1, argon2_memory_kib=8, argon2_parallelism=1
    )
    return dataclasses.replace(settings, staff=staff)


@pytest.fixture
async def staff_server(app_parts: tuple) -> AsyncIterator[TestServer]:
    """The bot's whole web app, as `bot.app.serve` builds it, on a loopback port."""
    from bot.app import build_web_app, build_worker

    services, engine, pipeline = app_parts
    server = TestServer(build_web_app(services, engine, build_worker(pipeline)), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def new_client(staff_server: TestServer) -> AsyncIterator:
    """`await new_client()`: another browser (its own cookie jar) on the same server."""
    made: list[TestClient] = []

    async def make() -> TestClient:
        client = TestClient(staff_server)
        await client.start_server()
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client._session.close()  # the server is the fixture's, closed there


@pytest.fixture
async def staff_client(new_client) -> TestClient:
    """A client of the app, not logged in."""
    return await new_client()


@dataclasses.dataclass
class Account:
    id: int
    name: str
    role: str
    area_code: str | None
    password: str = PASSWORD


@pytest.fixture
def make_staff(services):
    """`await make_staff(role, area_code=None, name=None, password=PASSWORD)`: a new active
    account in the test database."""
    from bot.staff.auth import hash_password
    from bot.storage.repositories import staff as repo

    async def make(
        role: str, area_code: str | None = None, name: str | None = None, password: str = PASSWORD
    ) -> Account:
        name = name or f"{role}{next(_names)}"
        hashed = await hash_password(password, services.settings.staff)
        async with services.writing() as session:
            account = repo.add_account(session, name, hashed, role, area_code)
            await session.commit()
        return Account(account.id, account.name, role, account.area_code, password)

    return make


async def csrf_from(client: TestClient, path: str) -> str:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 200, (path, response.status)
    found = CSRF_RE.search(await response.text())
    assert found, f"no _csrf field on {path}"
    return found.group(1)


@pytest.fixture
def csrf_of():
    """`await csrf_of(client, path)`: the CSRF token in the forms of the page at `path`."""
    return csrf_from


async def login_as(client: TestClient, staff: Account, password: str | None = None) -> TestClient:
    token = await csrf_from(client, "/staff/login")
    response = await client.post(
        "/staff/login",
        data={"_csrf": token, "name": staff.name, "password": password or staff.password},
        allow_redirects=False,
    )
    assert response.status == 303, (response.status, await response.text())
    return client


@pytest.fixture
def login():
    """`await login(client, account)`: the client logged in (its jar holds the session)."""
    return login_as


@pytest.fixture
def post_form():
    """`await post_form(client, path, data, page=None)`: POST `data` with the CSRF token of
    `page` (default: /staff/), without following the redirect."""

    async def post(
        client: TestClient, path: str, data: dict[str, Any], page: str | None = None
    ) -> Any:
        token = await csrf_from(client, page or "/staff/")
        return await client.post(path, data={**data, "_csrf": token}, allow_redirects=False)

    return post


async def refused(client: TestClient, method: str, path: str, **kw: Any) -> None:
    response = await client.request(method, path, allow_redirects=False, **kw)
    assert response.status == 403, (method, path, response.status)
    assert "Location" not in response.headers


@pytest.fixture
def assert_refused():
    """`await assert_refused(client, method, path, **request_kw)`: a 403 (e.g. a commune
    account on another area's object)."""
    return refused


@pytest.fixture(scope="session")
def chromium() -> str:
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install-system-deps.sh"
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=chromium, args=BROWSER_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def phone(browser) -> AsyncIterator:
    """A 360x640 page; `phone.outside`: URLs requested outside 127.0.0.1; `phone.errors`:
    console errors and page errors."""
    context = await browser.new_context(viewport={"width": 360, "height": 640})
    page = await context.new_page()
    page.outside = []
    page.errors = []
    page.on("request", lambda r: page.outside.append(r.url) if "127.0.0.1" not in r.url else None)
    page.on(
        "console", lambda m: page.errors.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
    try:
        yield page
    finally:
        await context.close()


def screenshot_path(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / name)
