"""`python -m bot feedback set-status CODE STATUS [--reply TEXT] [--reason TEXT] | show CODE` and
`python -m bot reports list [--area CODE] [--project N] [--status S]`.

`set-status` records a feedback event (received, in_progress, resolved, rejected: a rejection
needs `--reason`), and in the same transaction queues the notice to the citizen on the channel
they used, in their language (bot/feedback/notify.py); the running bot's outbox dispatcher sends
it. `--reply` alone (the status unchanged) sends a reply. Output names feedback by code and
reports by id; never a chat id, a name or a phone number.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.feedback import notify, tracking
from bot.storage.repositories import feedback as fb_repo
from bot.storage.repositories import reports as report_repo


def _settings(args: argparse.Namespace):
    from bot.__main__ import _check_schema
    from bot.config import load_settings

    settings = load_settings(args.config)
    _check_schema(settings)
    return settings


async def _with_session(settings, work):
    """`work(session)` on the configured database (bot.storage.db.with_session)."""
    from bot.storage.db import resolve_url, with_session

    return await with_session(resolve_url(settings.database_url, settings.base_dir), work)


def _translators(settings):
    from bot.i18n import Catalogs

    catalogs = Catalogs(settings.path("content/locales"), settings.path("var/locales"))
    return catalogs.for_lang


async def set_status(
    session,
    translators,
    code_text: str,
    status: str,
    reply: str | None = None,
    reason: str | None = None,
) -> tuple[str, int | None]:
    """Change a feedback's status (or reply); the message for the admin and the outbox row of
    the notice (None: nobody to tell). ValueError: what is wrong with the request."""
    code = tracking.normalize(code_text)
    if code is None:
        raise ValueError(f"{code_text!r} is not a tracking code (8 characters, e.g. K7QF-9XPA)")
    fb = await fb_repo.by_code(session, code)
    if fb is None:
        raise ValueError(f"no feedback with code {tracking.show(code)}")
    reply = (reply or "").strip() or None
    reason = (reason or "").strip() or None
    if status == fb.status and reply is None and reason is None:
        raise ValueError(f"{tracking.show(code)} is already {status}: nothing to tell")
    event = fb_repo.set_status(session, fb, status, reply=reply, reason=reason)
    await session.flush()
    row = await notify.status_notice(session, translators, fb, event)
    told = f"the citizen is told (outbox row {row})" if row else "nobody to tell"
    return f"{tracking.show(code)}: {status}; {told}", row


def cmd_set_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.status not in fb_repo.STATUSES:
        print(f"status: one of {', '.join(fb_repo.STATUSES)}", file=sys.stderr)
        return 1
    translators = _translators(settings)

    async def work(session):
        return await set_status(
            session, translators, args.code, args.status, args.reply, args.reason
        )

    try:
        message, _row = asyncio.run(_with_session(settings, work))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(message)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = _settings(args)
    code = tracking.normalize(args.code)
    if code is None:
        print(f"{args.code!r} is not a tracking code", file=sys.stderr)
        return 1

    async def work(session):
        fb = await fb_repo.by_code(session, code)
        if fb is None:
            return None
        return fb, await fb_repo.events_of(session, fb.id)

    got = asyncio.run(_with_session(settings, work))
    if got is None:
        print(f"no feedback with code {tracking.show(code)}", file=sys.stderr)
        return 1
    fb, events = got
    print(f"{tracking.show(fb.code)}  {fb.category}  {fb.status}  {fb.created_at:%Y-%m-%d %H:%M}Z")
    print(
        f"  channel {fb.channel}; photo {'yes' if fb.photo_ref else 'no'}; "
        f"location {'yes' if fb.latitude is not None else 'no'}; "
        f"contact phone {'given' if fb.phone else 'no'}; "
        f"author {'known' if fb.user_id else 'erased'}"
    )
    print("  " + fb.description.replace("\n", " ")[:500])
    for e in events:
        extra = "".join(f"; {k}: {v}" for k, v in (("reason", e.reason), ("reply", e.reply)) if v)
        print(f"  {e.at:%Y-%m-%d %H:%M}Z {e.status} by {e.actor}{extra}")
    return 0


def cmd_reports_list(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def work(session):
        return await report_repo.listing(
            session, area=args.area, project=args.project, status=args.status, limit=args.limit
        )

    for r in asyncio.run(_with_session(settings, work)):
        print(
            f"#{r.id}  {r.period}  p{r.project} {r.indicator} = {r.value:g} {r.unit}  "
            f"{r.area_code}  {r.status} v{r.version}  by {r.officer_role} {r.officer_area or '-'}"
            f"  {r.created_at:%Y-%m-%d %H:%M}Z"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser("feedback", help="citizens' feedback: status changes and replies")
    fs = f.add_subparsers(dest="feedback_command", required=True)
    s = fs.add_parser("set-status", help="change a feedback's status; the citizen is told")
    s.add_argument("code", help="the tracking code, e.g. K7QF-9XPA")
    s.add_argument("status", help=", ".join(fb_repo.STATUSES))
    s.add_argument("--reply", help="a reply the citizen reads")
    s.add_argument("--reason", help="why (required for rejected)")
    s.set_defaults(func=cmd_set_status)
    sh = fs.add_parser("show", help="one feedback and its events, by tracking code")
    sh.add_argument("code")
    sh.set_defaults(func=cmd_show)
    r = sub.add_parser("reports", help="officers' quick reports")
    rs = r.add_subparsers(dest="reports_command", required=True)
    ls = rs.add_parser("list", help="reports, newest first")
    ls.add_argument("--area", help="an area code: its whole subtree, e.g. qng.ba_dong")
    ls.add_argument("--project", type=int)
    ls.add_argument("--status", choices=[report_repo.SUBMITTED, report_repo.WITHDRAWN])
    ls.add_argument("--limit", type=int, default=50)
    ls.set_defaults(func=cmd_reports_list)
