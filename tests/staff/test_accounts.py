"""Accounts: `python -m bot admin ...` (password from stdin only) and the admins' accounts page
(roles, areas validated against the tree, deactivation, new passwords, one's own password)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.staff import auth
from bot.storage.models import AuditEntry, StaffAccount, StaffSession
from tests.staff.conftest import csrf_from

ROOT = Path(__file__).resolve().parents[2]
GOOD = "một mật khẩu dài đủ"


async def _rows(services, model, *where):
    async with services.sessionmaker() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


async def _login_status(client, name, password) -> int:
    token = await csrf_from(client, "/staff/login")
    r = await client.post(
        "/staff/login",
        data={"_csrf": token, "name": name, "password": password},
        allow_redirects=False,
    )
    return r.status


# ---- the CLI -------------------------------------------------------------------------------


def cli(monkeypatch, capsys, db_url, stdin, *args) -> tuple[int, str, str]:
    from bot.__main__ import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["admin", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_create_list_deactivate_reset(monkeypatch, capsys, db_url):
    code, out, err = cli(
        monkeypatch, capsys, db_url, GOOD + "\n", "create", "Boss", "--password-stdin"
    )
    assert code == 0 and "account boss created: admin" in out, err
    code, out, err = cli(
        monkeypatch, capsys, db_url, GOOD + "\n", "create", "boss", "--password-stdin"
    )
    assert code == 1 and "Đã có tài khoản tên boss" in err
    code, _, err = cli(
        monkeypatch, capsys, db_url, GOOD, "create", "xa1", "--password-stdin", "--role",
        "commune", "--area", "qng.ba_dong",
    )  # fmt: skip
    assert code == 0
    code, _, err = cli(
        monkeypatch, capsys, db_url, GOOD, "create", "xa2", "--password-stdin", "--role",
        "commune", "--area", "qng.nowhere",
    )  # fmt: skip
    assert code == 1 and "địa bàn" in err
    code, out, _ = cli(monkeypatch, capsys, db_url, "", "list")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["boss", "xa1"]
    assert "qng.ba_dong" in lines[1] and GOOD not in out
    code, out, _ = cli(monkeypatch, capsys, db_url, "", "deactivate", "xa1")
    assert code == 0 and "deactivated" in out
    code, _, err = cli(monkeypatch, capsys, db_url, "", "deactivate", "xa1")
    assert code == 1 and "đã bị khóa" in err
    code, _, err = cli(monkeypatch, capsys, db_url, "", "deactivate", "boss")
    assert code == 1 and "cuối cùng" in err  # the last active admin stays
    code, out, _ = cli(monkeypatch, capsys, db_url, "", "reactivate", "xa1")
    assert code == 0
    new = "hoàn toàn mới và dài"
    code, out, _ = cli(
        monkeypatch, capsys, db_url, new + "\r\n", "reset-password", "xa1", "--password-stdin"
    )
    assert code == 0 and "new password set" in out
    code, _, err = cli(
        monkeypatch, capsys, db_url, new, "reset-password", "nobody", "--password-stdin"
    )
    assert code == 1 and "Không có tài khoản" in err


@pytest.mark.parametrize(
    ("stdin", "args", "says"),
    [
        (GOOD, ["create", "boss"], "--password-stdin"),  # never from the command line
        ("", ["create", "boss", "--password-stdin"], "ít nhất 12"),
        ("\n", ["create", "boss", "--password-stdin"], "ít nhất 12"),
        ("short pass\n", ["create", "boss", "--password-stdin"], "ít nhất 12"),
        (f" {GOOD} \n", ["create", "boss", "--password-stdin"], "khoảng trắng"),
        (GOOD, ["create", "b", "--password-stdin"], "Tên đăng nhập"),
        (GOOD, ["create", "../etc", "--password-stdin"], "Tên đăng nhập"),
        (GOOD, ["create", "xa", "--password-stdin", "--role", "commune"], "Tên đăng nhập"),
        (GOOD, ["create", "xa3", "--password-stdin", "--role", "commune"], "địa bàn"),
        (GOOD, ["create", "xa3", "--password-stdin", "--role", "commune", "--area", "qng"], "xã"),
        ("short", ["reset-password", "boss", "--password-stdin"], "ít nhất 12"),
        (GOOD, ["reset-password", "boss"], "--password-stdin"),
    ],
)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # refused before any query
def test_cli_refuses_with_a_short_message(monkeypatch, capsys, db_url, stdin, args, says):
    code, out, err = cli(monkeypatch, capsys, db_url, stdin, *args)
    assert code == 1 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_as_a_process_reads_stdin(db_url, tmp_path):
    """The real command, the password piped in: then a login with it works."""
    env = {**os.environ, "DATABASE_URL": db_url, "LOG_LEVEL": "WARNING"}
    got = subprocess.run(
        [sys.executable, "-m", "bot", "admin", "create", "first", "--password-stdin"],
        input=GOOD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert got.returncode == 0, got.stderr
    assert GOOD not in got.stdout + got.stderr

    import asyncio

    from bot.config import load_settings
    from bot.storage.db import create_engine, create_sessionmaker

    async def check() -> bool:
        engine = create_engine(db_url)
        try:
            async with create_sessionmaker(engine)() as s:
                account = (await s.execute(select(StaffAccount))).scalar_one()
            settings = load_settings(ROOT / "config.yml", env={})
            # config.yml's parameters (argon2-cffi's defaults), not the tests' cheap ones.
            assert account.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
            return await auth.verify_password(settings.staff, account.password_hash, GOOD)
        finally:
            await engine.dispose()

    assert asyncio.run(check())


# ---- the page ------------------------------------------------------------------------------


async def test_admin_adds_a_commune_account(
    staff_client, new_client, make_staff, login, post_form, services
):
    admin = await make_staff("admin")
    await login(staff_client, admin)
    r = await post_form(
        staff_client,
        "/staff/accounts",
        {"name": "Xa.BaDong", "password": GOOD, "role": "commune", "area": "qng.ba_dong"},
        "/staff/accounts",
    )
    assert r.status == 303 and r.headers["Location"] == "/staff/accounts?done=created"
    [made] = await _rows(services, StaffAccount, StaffAccount.name == "xa.badong")
    assert made.role == "commune" and made.area_code == "qng.ba_dong" and made.active
    assert made.password_hash.startswith("$argon2id$") and GOOD not in made.password_hash
    [entry] = await _rows(services, AuditEntry, AuditEntry.action == "account.created")
    assert entry.staff_name == admin.name and entry.target == "account:xa.badong"
    assert entry.detail["area"] == "qng.ba_dong" and GOOD not in str(entry.detail)
    r = await staff_client.get("/staff/accounts?done=created")
    assert "Đã tạo tài khoản" in await r.text() and "xa.badong" in await r.text()
    other = await new_client()
    assert await _login_status(other, "xa.badong", GOOD) == 303
    assert "xã Ba Động" in await (await other.get("/staff/")).text()


BAD_ACCOUNTS = [
    ({"name": "a b"}, "Tên đăng nhập"),
    ({"name": "x" * 65}, "Tên đăng nhập"),
    ({"password": "short"}, "ít nhất 12"),
    ({"password": "x" * 2000}, "dài quá"),
    ({"role": "root"}, "Vai trò"),
    ({"role": "commune", "area": ""}, "địa bàn"),
    ({"role": "commune", "area": "qng.nowhere"}, "địa bàn"),
    ({"role": "commune", "area": "qng"}, "không phải tỉnh"),
    ({"name": "taken"}, "Đã có tài khoản"),
]


async def test_the_page_refuses_bad_accounts(staff_client, make_staff, login, post_form, services):
    await make_staff("province", name="taken")
    await login(staff_client, await make_staff("admin"))
    before = len(await _rows(services, StaffAccount))
    for fields, says in BAD_ACCOUNTS:
        data = {"name": "newone", "password": GOOD, "role": "province", "area": "", **fields}
        r = await post_form(staff_client, "/staff/accounts", data, "/staff/accounts")
        assert r.status == 400, fields
        text = await r.text()
        assert says in text and "Traceback" not in text, fields
        assert GOOD not in text  # what was typed is kept, but never the password
        if fields.get("name") == "a b":
            assert 'value="a b"' in text
    assert len(await _rows(services, StaffAccount)) == before


async def test_role_change_ends_that_accounts_sessions(
    new_client, make_staff, login, post_form, services
):
    admin, clerk = await make_staff("admin"), await make_staff("province")
    boss = await login(await new_client(), admin)
    them = await login(await new_client(), clerk)
    page = f"/staff/accounts/{clerk.name}"
    r = await post_form(boss, f"{page}/role", {"role": "commune", "area": "qng.ba_dong"}, page)
    assert r.status == 303
    assert (await them.get("/staff/", allow_redirects=False)).status == 302
    [account] = await _rows(services, StaffAccount, StaffAccount.name == clerk.name)
    assert (account.role, account.area_code) == ("commune", "qng.ba_dong")
    [entry] = await _rows(services, AuditEntry, AuditEntry.action == "account.role")
    assert entry.detail["from"] == {"role": "province", "area": None}
    assert entry.detail["sessions_ended"] == 1
    # Back to province: the area goes with it.
    r = await post_form(boss, f"{page}/role", {"role": "province", "area": "qng.ba_dong"}, page)
    [account] = await _rows(services, StaffAccount, StaffAccount.name == clerk.name)
    assert (account.role, account.area_code) == ("province", None)
    r = await post_form(boss, f"{page}/role", {"role": "province", "area": ""}, page)
    assert r.status == 400 and "Không có gì thay đổi" in await r.text()


async def test_the_last_admin_stays(staff_client, make_staff, login, post_form):
    admin = await make_staff("admin")
    await login(staff_client, admin)
    page = f"/staff/accounts/{admin.name}"
    r = await post_form(staff_client, f"{page}/active", {"active": "0"}, page)
    assert r.status == 400 and "chính mình" in await r.text()
    r = await post_form(staff_client, f"{page}/role", {"role": "province", "area": ""}, page)
    assert r.status == 400 and "cuối cùng" in await r.text()


async def test_admin_sets_a_new_password(new_client, make_staff, login, post_form, services):
    admin, clerk = await make_staff("admin"), await make_staff("province")
    boss = await login(await new_client(), admin)
    them = await login(await new_client(), clerk)
    page = f"/staff/accounts/{clerk.name}"
    r = await post_form(boss, f"{page}/password", {"password": "short"}, page)
    assert r.status == 400 and "ít nhất" in await r.text()
    r = await post_form(boss, f"{page}/password", {"password": "một mật khẩu khác hẳn"}, page)
    assert r.status == 303
    assert (await them.get("/staff/", allow_redirects=False)).status == 302
    fresh = await new_client()
    assert await _login_status(fresh, clerk.name, clerk.password) == 401
    assert await _login_status(fresh, clerk.name, "một mật khẩu khác hẳn") == 303


async def test_own_password(new_client, make_staff, login, post_form, services):
    clerk = await make_staff("commune", "qng.ba_dong")
    here = await login(await new_client(), clerk)
    there = await login(await new_client(), clerk)
    new = "mật khẩu mới của tôi"
    cases = [
        ({"current": "wrong password", "password": new, "again": new}, "hiện tại không đúng"),
        ({"current": clerk.password, "password": new, "again": new + "x"}, "không giống"),
        ({"current": clerk.password, "password": "short", "again": "short"}, "ít nhất"),
    ]
    for data, says in cases:
        r = await post_form(here, "/staff/password", data, "/staff/password")
        assert r.status == 400 and says in await r.text()
    data = {"current": clerk.password, "password": new, "again": new}
    r = await post_form(here, "/staff/password", data, "/staff/password")
    assert r.status == 200 and "Đã đổi mật khẩu" in await r.text()
    assert (await here.get("/staff/", allow_redirects=False)).status == 200  # this one goes on
    assert (await there.get("/staff/", allow_redirects=False)).status == 302  # the other ended
    assert len(await _rows(services, StaffSession)) == 1
    assert await _login_status(await new_client(), clerk.name, new) == 303


async def test_only_admins_change_accounts(new_client, make_staff, login, services, post_form):
    clerk = await make_staff("province")
    target = await make_staff("commune", "qng.ba_dong")
    them = await login(await new_client(), clerk)
    for path, data in (
        ("/staff/accounts", {"name": "sneaky", "password": GOOD, "role": "admin"}),
        (f"/staff/accounts/{target.name}/role", {"role": "admin"}),
        (f"/staff/accounts/{target.name}/active", {"active": "0"}),
        (f"/staff/accounts/{target.name}/password", {"password": GOOD}),
    ):
        r = await post_form(them, path, data)  # a valid token of theirs
        assert r.status == 403, path
    accounts = await _rows(services, StaffAccount)
    assert {a.name for a in accounts} == {clerk.name, target.name}
    assert all(a.role != "admin" for a in accounts) and all(a.active for a in accounts)
