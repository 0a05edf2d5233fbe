"""`python -m bot notices send | list | status ID | cancel ID | attendees ID --format csv`.

    python -m bot notices send --title-vi T --body-vi B [--title-hre T] [--body-hre B ...]
        [--topic CODE ...] [--area CODE ...] [--lang vi|hre|cua|sed ...]
        [--role villager|officer] [--rsvp] [--date D --time HH:MM --place P --link URL
        --contact C] [--photo REF | --document REF] [--use-quota] [--at WHEN] [--dry-run] [--yes]

`send` prints the notice id and the recipient count per channel and language (`--dry-run` only
previews, and prints the message as each language sees it); without `--yes` it asks first (and
refuses when nobody can answer). The rows are written with the notice in one transaction; the
running bot's dispatcher sends them. `status` prints counts by state and reason, and while the
notice is going out a progress bar (sent, failed, remaining, rate) until it is done
(`--follow`, the default on a terminal). Bad input (an unknown topic, area, language or role,
no Vietnamese body, `--at` in the past) is a short message and exit code 2. Output never shows
a chat id, a name or a phone number, except the attendee list the organiser asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.i18n import LANGUAGES

EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 1


def _settings(args: argparse.Namespace):
    from bot.__main__ import _check_schema
    from bot.config import load_settings

    settings = load_settings(args.config)
    _check_schema(settings)
    return settings


async def _with_session(settings, work):
    from bot.storage.db import resolve_url, with_session

    return await with_session(resolve_url(settings.database_url, settings.base_dir), work)


def _translators(settings):
    from bot.i18n import Catalogs

    return Catalogs(settings.path("content/locales"), settings.path("var/locales")).for_lang


def _bad(lines: list[str] | str) -> int:
    for line in [lines] if isinstance(lines, str) else lines:
        print(line, file=sys.stderr)
    return EXIT_BAD_INPUT


def draft_of(args: argparse.Namespace, tz) -> tuple[object, list[str]]:
    """The draft the arguments describe, and what could not be read."""
    from bot.notices.model import Draft, parse_when

    problems: list[str] = []
    send_at = None
    if args.at:
        send_at = parse_when(args.at, tz)
        if send_at is None:
            problems.append(f"--at {args.at!r}: viết như 2026-12-15 08:00 (giờ của tỉnh).")
    roles = [args.role] if args.role else []
    draft = Draft(
        title={lang: getattr(args, f"title_{lang}") or "" for lang in LANGUAGES},
        body={lang: getattr(args, f"body_{lang}") or "" for lang in LANGUAGES},
        audio={lang: getattr(args, f"audio_{lang}") or "" for lang in LANGUAGES},
        topics=args.topic or [],
        areas=args.area or [],
        langs=args.lang or [],
        roles=roles,
        rsvp=args.rsvp,
        send_at=send_at,
        photo=args.photo,
        document=args.document,
        details={k: getattr(args, k) or "" for k in ("date", "time", "place", "link", "contact")},
        use_quota=args.use_quota,
        created_by="cli",
    )
    return draft, problems


def _counts_table(counts: dict[tuple[str, str], int]) -> list[str]:
    if not counts:
        return ["  nobody: no subscriber matches these targets"]
    lines = []
    for (channel, lang), n in sorted(counts.items()):
        lines.append(f"  {channel:<9} {lang:<4} {n}")
    lines.append(f"  total          {sum(counts.values())}")
    return lines


def cmd_send(args: argparse.Namespace) -> int:
    from bot.notices import compose as composing
    from bot.notices.model import zone

    settings = _settings(args)
    tz = zone(settings.timezone)
    draft, unread = draft_of(args, tz)
    found = unread + composing.check(draft, settings=settings)  # type: ignore[arg-type]
    if found:
        return _bad(found)
    translators = _translators(settings)

    async def look(session):
        return await composing.preview(
            session,
            draft,
            settings=settings,
            translators=translators,  # type: ignore[arg-type]
        )

    shown = asyncio.run(_with_session(settings, look))
    if shown.problems:
        return _bad(shown.problems)
    when = "now" if draft.send_at is None else f"at {draft.send_at:%Y-%m-%d %H:%M}Z"  # type: ignore[attr-defined]
    print(f"recipients ({'sent ' + when}):")
    print("\n".join(_counts_table(shown.counts)))
    if args.dry_run:
        for lang, text in shown.messages.items():
            print(f"--- {lang} ({LANGUAGES[lang]})")
            print(text)
        print("dry run: nothing stored, nothing sent")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            return _bad("add --yes to send (or --dry-run to preview only)")
        if input(f"send to {shown.total}? [y/N] ").strip().lower() not in ("y", "yes", "c", "co"):
            print("not sent")
            return 1

    async def send(session):
        made = await composing.compose(
            session,
            draft,
            settings=settings,
            translators=translators,  # type: ignore[arg-type]
        )
        await session.commit()
        return made.notice.id, made.notice.status, made.counts

    try:
        notice_id, status, counts = asyncio.run(_with_session(settings, send))
    except composing.DraftError as exc:
        return _bad(exc.problems)
    print(f"notice {notice_id}: {status}, {sum(counts.values())} recipients")
    print("\n".join(_counts_table(counts)))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bot.storage.repositories import notices as repo

    settings = _settings(args)

    async def work(session):
        return [
            (n.id, n.status, n.send_at, n.recipients, n.rsvp, n.topics, n.title.get("vi", ""))
            for n in await repo.listing(session, limit=args.limit)
        ]

    found = asyncio.run(_with_session(settings, work))
    if not found:
        print("no notices yet")
    for nid, status, send_at, count, rsvp, topics, title in found:
        flags = " rsvp" if rsvp else ""
        print(
            f"{nid:>5}  {status:<9} {send_at:%Y-%m-%d %H:%M}Z  {count:>7} recipients{flags}  "
            f"[{','.join(topics) or '-'}]  {title[:60]}"
        )
    return 0


def _report(p) -> list[str]:
    lines = [
        f"notice {p.notice.id}: {p.notice.status}; {p.notice.recipients} recipients; "
        f"sent {p.sent}, failed {p.failed}, remaining {p.remaining}"
    ]
    for state, n in sorted(p.by_state().items()):
        lines.append(f"  {state:<10} {n}")
    for reason, n in sorted(p.failed_by_reason().items()):
        lines.append(f"  failed: {reason:<18} {n}")
    if p.notice.rsvp:
        lines.append(f"  rsvp: yes {p.rsvp['yes']}, no {p.rsvp['no']}")
    return lines


async def _read(settings, notice_id: int):
    from bot.notices import manage

    async def work(session):
        got = await manage.progress(session, notice_id)
        await session.commit()
        return got

    return await _with_session(settings, work)


async def watch(settings, notice_id: int, console, interval: float = 1.0, timeout=None):
    """The progress bar while the notice goes out: sent, failed, remaining, the current rate."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    got = await _read(settings, notice_id)
    if got is None:
        return None
    columns = (
        TextColumn("notice {task.fields[nid]}"),
        BarColumn(),
        TextColumn("sent {task.fields[sent]}  failed {task.fields[failed]}"),
        TextColumn("remaining {task.fields[remaining]}  {task.fields[rate]:.1f}/s"),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(
            "send", total=max(got.total, 1), nid=notice_id, sent=0, failed=0, remaining=0, rate=0.0
        )
        last_done, last_at = got.sent + got.failed, time.monotonic()
        while True:
            done = got.sent + got.failed
            now = time.monotonic()
            rate = (done - last_done) / (now - last_at) if now > last_at else 0.0
            bar.update(
                task,
                completed=done,
                total=max(got.total, 1),
                sent=got.sent,
                failed=got.failed,
                remaining=got.remaining,
                rate=max(rate, 0.0),
            )
            if got.remaining == 0 or got.notice.status in ("cancelled", "done"):
                break
            if timeout is not None and now - started > timeout:
                break
            last_done, last_at = done, now
            await asyncio.sleep(interval)
            got = await _read(settings, notice_id)
    return got


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    follow = sys.stdout.isatty() if args.follow is None else args.follow
    got = asyncio.run(_read(settings, args.id))
    if got is None:
        print(f"no notice {args.id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if follow and got.remaining and got.notice.status in ("sending", "scheduled"):
        from rich.console import Console

        if got.notice.status == "scheduled" and got.notice.send_at > datetime.now(UTC):
            print(f"notice {args.id} waits for {got.notice.send_at:%Y-%m-%d %H:%M}Z")
        else:
            got = asyncio.run(watch(settings, args.id, Console(), interval=args.interval)) or got
    print("\n".join(_report(got)))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from bot.notices import manage

    settings = _settings(args)

    async def work(session):
        from bot.storage.repositories import notices as repo

        before = await repo.get(session, args.id)
        if before is None:
            return None
        was = before.status
        _notice, dropped = await manage.cancel(session, args.id)
        await session.commit()
        return was, dropped

    got = asyncio.run(_with_session(settings, work))
    if got is None:
        print(f"no notice {args.id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    was, dropped = got
    if was in ("done", "cancelled"):
        print(f"notice {args.id} is {was}: nothing left to cancel")
        return 0
    print(f"notice {args.id}: cancelled; {dropped} not yet sent will not be sent")
    return 0


def cmd_attendees(args: argparse.Namespace) -> int:
    from bot.notices import attendees
    from bot.notices.model import zone
    from bot.storage.repositories import notices as repo

    fmt = (args.format or "csv").lower()
    if fmt not in attendees.FORMATS:
        return _bad("--format: csv or xlsx")
    if fmt == "xlsx" and not args.out:
        return _bad("--format xlsx needs --out FILE.xlsx")
    settings = _settings(args)
    out = Path(args.out) if args.out else None

    async def work(session):
        notice = await repo.get(session, args.id)
        if notice is None:
            return None
        return await attendees.export(session, args.id, fmt, zone(settings.timezone), out)

    got = asyncio.run(_with_session(settings, work))
    if got is None:
        print(f"no notice {args.id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    n, text = got
    if text is not None:
        sys.stdout.write(text)
    else:
        print(f"{n} attendees written to {out}", file=sys.stderr)
    return 0


def cmd_record_attendance(args: argparse.Namespace) -> int:
    from bot.areas import areas_of
    from bot.content import load_content
    from bot.notices import indicators
    from bot.notices.model import zone
    from bot.storage.repositories import notices as repo

    settings = _settings(args)
    content_dir = settings.path(settings.content_dir)
    tree = areas_of(load_content(content_dir))

    async def work(session):
        notice = await repo.get(session, args.id)
        if notice is None:
            return None
        done = await indicators.record_attendance(
            session,
            notice,
            content_dir=content_dir,
            tz=zone(settings.timezone),
            attended=args.attended,
            area=args.area,
            known_area=lambda code: tree.get(code) is not None,
        )
        await session.commit()
        return done

    try:
        got = asyncio.run(_with_session(settings, work))
    except indicators.Refused as refused:
        return _bad(str(refused))
    if got is None:
        print(f"no notice {args.id}", file=sys.stderr)
        return EXIT_NOT_FOUND
    rows = ", ".join(f"{code} {value:g}" for code, value in got.rows.items())
    print(f"notice {args.id}: recorded for {got.area}, {got.period}: {rows}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("notices", help="notices to subscribers: send, list, status, cancel")
    ps = p.add_subparsers(dest="notices_command", required=True)

    s = ps.add_parser("send", help="compose a notice: preview, then queue it for sending")
    for lang in LANGUAGES:
        s.add_argument(f"--title-{lang}", dest=f"title_{lang}", metavar="TEXT")
        s.add_argument(f"--body-{lang}", dest=f"body_{lang}", metavar="TEXT")
        s.add_argument(f"--audio-{lang}", dest=f"audio_{lang}", metavar="REF")
    many = {"action": "extend", "nargs": "+", "default": []}
    s.add_argument("--topic", metavar="CODE", help="content/topics.yml codes", **many)
    s.add_argument("--area", metavar="CODE", help="area codes (a commune has its villages)", **many)
    s.add_argument("--lang", metavar="LANG", help=f"one of {', '.join(LANGUAGES)}", **many)
    s.add_argument("--role", metavar="ROLE", help="villager or officer")
    s.add_argument("--rsvp", action="store_true", help="ask: Tôi sẽ tham gia / Không tham gia")
    for k, h in (
        ("date", "the training's date (15/12/2026)"),
        ("time", "its time (08:00)"),
        ("place", "where"),
        ("link", "online meeting link (https://...)"),
        ("contact", "who to contact"),
    ):
        s.add_argument(f"--{k}", help=h)
    s.add_argument("--photo", metavar="REF", help="a file under content/ or an https:// URL")
    s.add_argument("--document", metavar="REF", help="a file under content/ or an https:// URL")
    s.add_argument("--use-quota", action="store_true", help="Zalo: may spend proactive quota")
    s.add_argument("--at", metavar="WHEN", help="send later: 2026-12-15 08:00 (province time)")
    s.add_argument("--dry-run", action="store_true", help="preview only")
    s.add_argument("--yes", action="store_true", help="send without asking")
    s.set_defaults(func=cmd_send)

    ls = ps.add_parser("list", help="the latest notices")
    ls.add_argument("--limit", type=int, default=30)
    ls.set_defaults(func=cmd_list)

    st = ps.add_parser("status", help="counts by state and reason; a progress bar while sending")
    st.add_argument("id", type=int)
    st.add_argument("--follow", action=argparse.BooleanOptionalAction, default=None)
    st.add_argument("--interval", type=float, default=1.0)
    st.set_defaults(func=cmd_status)

    c = ps.add_parser("cancel", help="what has not been sent is not sent")
    c.add_argument("id", type=int)
    c.set_defaults(func=cmd_cancel)

    a = ps.add_parser("attendees", help="those who said yes, formula-safe CSV or XLSX")
    a.add_argument("id", type=int)
    a.add_argument("--format", default="csv")
    a.add_argument("--out", help="file to write (needed for xlsx); CSV goes to stdout without")
    a.set_defaults(func=cmd_attendees)

    r = ps.add_parser(
        "record-attendance",
        help="after the training: its session and attendees into the Project 10 indicators",
    )
    r.add_argument("id", type=int)
    r.add_argument("--attended", type=int, help="people who came (default: the yes answers)")
    r.add_argument("--area", help="the commune (needed when the notice went to several)")
    r.set_defaults(func=cmd_record_attendance)
