"""`python -m bot officers invite --area CODE [--expires 7d] [--role officer|admin] | list |
revoke ID_OR_CODE | deactivate USER_ID`.

`invite` prints the code once (only its keyed hash is stored, bot/officers.py). `list` shows each
invite by id and its first two characters, its area, expiry, state and who used it, as the role
and area of that user and their internal user id (never a chat id). `deactivate` takes that
user id and makes the officer a villager again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot import officers
from bot.storage.repositories import officers as repo


async def _with_session(settings, work):
    """`work(session)` on the configured database (bot.storage.db.with_session)."""
    from bot.storage.db import resolve_url, with_session

    return await with_session(resolve_url(settings.database_url, settings.base_dir), work)


def _settings(args: argparse.Namespace):
    from bot.__main__ import _check_schema
    from bot.config import load_settings

    settings = load_settings(args.config)
    _check_schema(settings)
    return settings


def _tree(settings):
    from bot.areas import AreaTree
    from bot.content import load_areas

    return AreaTree(load_areas(Path(settings.path(settings.content_dir)), []))


def cmd_invite(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        expires = officers.parse_expiry(args.expires)
    except ValueError as exc:
        print(f"--expires: {exc}", file=sys.stderr)
        return 1
    if args.role == "translator" or args.lang:
        return _invite_translator(args, settings, expires)
    if not args.area:
        print("--area: required for an officer or admin invite", file=sys.stderr)
        return 1
    tree = _tree(settings)
    area = tree.get(args.area)
    if area is None:
        print(f"--area: no area {args.area!r} in content/areas.yml", file=sys.stderr)
        for m in tree.search(args.area.rsplit(".", 1)[-1].replace("_", " "))[:5]:
            print(f"  did you mean {m.area.code} ({m.describe()})?", file=sys.stderr)
        return 1
    made = asyncio.run(
        _with_session(
            settings,
            lambda s: officers.make_invite(s, settings, area.code, expires, role=args.role),
        )
    )
    print(f"invite #{made.id} for {made.role} of {area.code} ({area.name})")
    print(f"code: {officers.show(made.code)}")
    print(f"expires: {made.expires_at:%Y-%m-%d %H:%M} UTC; single use")
    print(f"the officer sends in the chat: /macanbo {officers.show(made.code)}")
    print("the code is shown only now: only a keyed hash of it is stored")
    return 0


def _invite_translator(args: argparse.Namespace, settings, expires) -> int:
    """A translator's code: bound to a language, not an area (bot/voice/)."""
    if args.role != "translator" or args.lang not in officers.TRANSLATED_LANGUAGES:
        langs = ", ".join(officers.TRANSLATED_LANGUAGES)
        print(f"a translator invite: --role translator --lang {{{langs}}}", file=sys.stderr)
        return 1
    made = asyncio.run(
        _with_session(
            settings,
            lambda s: officers.make_invite(
                s, settings, "", expires, role="translator", lang=args.lang
            ),
        )
    )
    print(f"invite #{made.id} for a translator of {args.lang}")
    print(f"code: {officers.show(made.code)}")
    print(f"expires: {made.expires_at:%Y-%m-%d %H:%M} UTC; single use")
    print(f"the translator sends in the chat: /madich {officers.show(made.code)}")
    print("the code is shown only now: only a keyed hash of it is stored")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rows = asyncio.run(_with_session(settings, repo.list_invites))
    now = datetime.now(UTC)
    if not rows:
        print("no invites")
    for invite, role_now in rows:
        state = officers.state_of(invite, now)
        line = (
            f"#{invite.id}\t{invite.hint}…\t{invite.role}\t{invite.area_code or invite.lang}\t"
            f"expires {invite.expires_at:%Y-%m-%d %H:%M}\t{state}"
        )
        if invite.used_at is not None:
            by = f"user {invite.used_by}" if invite.used_by is not None else "erased user"
            line += (
                f"\tused {invite.used_at:%Y-%m-%d %H:%M} by {by} "
                f"({invite.role} of {invite.area_code or invite.lang}; now {role_now or 'gone'})"
            )
        print(line)
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ref = args.invite.strip().lstrip("#")

    async def work(session) -> tuple[int | None, bool]:
        invite = None
        if ref.isdigit() and len(ref) < officers.LENGTH:
            invite = await repo.get_invite(session, int(ref))
        else:
            code = officers.normalize(ref)
            if code is not None:
                invite = await repo.find_invite(session, officers.code_hashes(settings, code))
        if invite is None:
            return None, False
        return invite.id, await repo.revoke_invite(session, invite.id, datetime.now(UTC))

    found, done = asyncio.run(_with_session(settings, work))
    if found is None:
        print(f"no invite {args.invite!r} (give its #id from `officers list`, or the code)")
        return 1
    if not done:
        print(f"invite #{found} was already used or revoked; nothing changed")
        return 1
    print(f"invite #{found} revoked")
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    user = asyncio.run(
        _with_session(settings, lambda s: repo.deactivate(s, args.user, datetime.now(UTC)))
    )
    if user is None:
        print(f"user {args.user} is not an officer or admin (see `officers list`)")
        return 1
    print(f"user {args.user} is a villager again; their invites are marked deactivated")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    o = sub.add_parser("officers", help="officer invite codes and roles")
    os_ = o.add_subparsers(dest="officers_command", required=True)
    i = os_.add_parser("invite", help="make a one-time invite code for an area")
    i.add_argument("--area", help="area code, e.g. qng.ba_dong (or 21496); not for translators")
    i.add_argument("--expires", default="7d", help="how long it can be used: 30m, 12h, 7d, 2w")
    i.add_argument("--role", choices=["officer", "admin", "translator"], default="officer")
    i.add_argument("--lang", choices=list(officers.TRANSLATED_LANGUAGES), help="a translator's")
    i.set_defaults(func=cmd_invite)
    ls = os_.add_parser("list", help="invites: id, area, expiry, state, who used them")
    ls.set_defaults(func=cmd_list)
    r = os_.add_parser("revoke", help="revoke an unused invite, by #id or by code")
    r.add_argument("invite")
    r.set_defaults(func=cmd_revoke)
    d = os_.add_parser("deactivate", help="make an officer (by user id) a villager again")
    d.add_argument("user", type=int)
    d.set_defaults(func=cmd_deactivate)
