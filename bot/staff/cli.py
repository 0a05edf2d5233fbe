"""`python -m bot admin create NAME --password-stdin [--role admin|province|commune] [--area CODE]
| list | deactivate NAME | reactivate NAME | reset-password NAME --password-stdin`.

Dashboard accounts (bot/staff/accounts.py). The password is read from standard input only (one
line; a terminal asks without echo), never from the command line, where `ps` and the shell's
history would keep it. `create` makes the first admin; admins add the others on the accounts
page too. Every change is in the audit log (by "cli").
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path

from bot.staff import accounts
from bot.staff.accounts import AccountError
from bot.staff.auth import ROLE_LABELS, ROLES
from bot.storage.repositories import staff as repo

NO_STDIN = (
    "the password is read from standard input only: add --password-stdin and pipe it in "
    "(e.g. `python -m bot admin create NAME --password-stdin < file`); never on the command line"
)


def _settings(args: argparse.Namespace):
    from bot.__main__ import _check_schema
    from bot.config import load_settings

    settings = load_settings(args.config)
    _check_schema(settings)
    return settings


async def _with_session(settings, work):
    from bot.storage.db import resolve_url, with_session

    return await with_session(resolve_url(settings.database_url, settings.base_dir), work)


def _tree(settings):
    from bot.areas import AreaTree
    from bot.content import load_areas

    return AreaTree(load_areas(Path(settings.path(settings.content_dir)), []))


def read_password(args: argparse.Namespace) -> str | None:
    """The password from standard input (a terminal: asked twice, without echo), or None with
    the reason printed."""
    if not args.password_stdin:
        print(NO_STDIN, file=sys.stderr)
        return None
    stdin = sys.stdin
    if stdin is None:
        print("no standard input to read the password from", file=sys.stderr)
        return None
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            print("the two passwords differ; nothing changed", file=sys.stderr)
            return None
        return first
    try:
        line = stdin.readline()
    except UnicodeDecodeError:
        print("the password is not UTF-8 text", file=sys.stderr)
        return None
    return line.rstrip("\r\n")


def _fail(exc: Exception) -> int:
    print(str(exc), file=sys.stderr)
    return 1


def cmd_create(args: argparse.Namespace) -> int:
    password = read_password(args)
    if password is None:
        return 1
    settings = _settings(args)
    try:  # the cheap checks before the database and the hash
        accounts.check_name(args.name)
        accounts.check_password(password, settings.staff)
    except AccountError as exc:
        return _fail(exc)
    tree = _tree(settings)

    async def work(session):
        return await accounts.create(
            session, settings.staff, tree, args.name, password, args.role, args.area
        )

    try:
        account = asyncio.run(_with_session(settings, work))
    except AccountError as exc:
        return _fail(exc)
    area = f", area {account.area_code}" if account.area_code else ""
    print(f"account {account.name} created: {account.role}{area}; log in at /staff/login")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rows = asyncio.run(_with_session(settings, repo.accounts))
    if not rows:
        print("no accounts yet: python -m bot admin create NAME --password-stdin")
        return 0
    for a in rows:
        last = f"{a.last_login_at:%Y-%m-%d %H:%M}Z" if a.last_login_at else "never"
        print(
            f"{a.name:<24} {a.role:<9} {a.area_code or '-':<28} "
            f"{'active' if a.active else 'deactivated':<12} last login {last}"
        )
    return 0


def cmd_deactivate(args: argparse.Namespace, active: bool = False) -> int:
    settings = _settings(args)

    async def work(session):
        return await accounts.set_active(session, args.name, active)

    try:
        account, ended = asyncio.run(_with_session(settings, work))
    except AccountError as exc:
        return _fail(exc)
    if active:
        print(f"account {account.name} reactivated")
    else:
        print(f"account {account.name} deactivated; {ended} session(s) ended")
    return 0


def cmd_reactivate(args: argparse.Namespace) -> int:
    return cmd_deactivate(args, active=True)


def cmd_reset_password(args: argparse.Namespace) -> int:
    password = read_password(args)
    if password is None:
        return 1
    settings = _settings(args)
    try:
        accounts.check_password(password, settings.staff)
    except AccountError as exc:
        return _fail(exc)

    async def work(session):
        return await accounts.reset_password(session, settings.staff, args.name, password)

    try:
        account, ended = asyncio.run(_with_session(settings, work))
    except AccountError as exc:
        return _fail(exc)
    print(f"account {account.name}: new password set; {ended} session(s) ended")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("admin", help="staff dashboard accounts (/staff/)")
    s = a.add_subparsers(dest="admin_command", required=True)
    c = s.add_parser("create", help="make an account (the first admin); password on stdin")
    c.add_argument("name", help="login name: 3-64 of a-z 0-9 . _ -")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c.add_argument(
        "--role",
        choices=ROLES,
        default="admin",
        help="; ".join(f"{r}: {ROLE_LABELS[r]}" for r in ROLES) + " (default admin)",
    )
    c.add_argument("--area", help="a commune account's area, e.g. qng.ba_dong")
    c.set_defaults(func=cmd_create)
    ls = s.add_parser("list", help="accounts: role, area, state, last login")
    ls.set_defaults(func=cmd_list)
    d = s.add_parser("deactivate", help="lock an account out; its sessions end")
    d.add_argument("name")
    d.set_defaults(func=cmd_deactivate)
    r = s.add_parser("reactivate", help="let a deactivated account log in again")
    r.add_argument("name")
    r.set_defaults(func=cmd_reactivate)
    p = s.add_parser("reset-password", help="a new password (stdin); its sessions end")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_reset_password)
