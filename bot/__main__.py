"""Command line:
`python -m bot run | chat | ask | db upgrade | content check | nlu ... | i18n ... | doctor |
secrets ...`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library loggers would print request URLs, which for Telegram contain the bot token.
    # aiosqlite logs SQL parameters (message texts, tokens) at DEBUG.
    for noisy in (
        "httpx",
        "httpcore",
        "telegram",
        "aiohttp.access",
        "sqlalchemy.engine",
        "aiosqlite",
        "asyncpg",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def console_logging(args: argparse.Namespace, base_dir: Path) -> None:
    """On the console the terminal shows the conversation: logs go to var/logs/bot.log (LOG_DIR)
    and only warnings to the terminal, unless a level was asked for (--log-level, LOG_LEVEL)."""
    if getattr(args, "log_level", None) or os.environ.get("LOG_LEVEL"):
        return
    root = logging.getLogger()
    folder = Path(os.environ.get("LOG_DIR") or base_dir / "var" / "logs")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(folder / "bot.log", encoding="utf-8")
    except OSError as exc:
        print(f"logs: cannot write {folder / 'bot.log'} ({exc}); warnings only", file=sys.stderr)
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    for h in root.handlers:
        if type(h) is logging.StreamHandler:
            h.setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import serve

    settings = _settings(args)
    console = settings.console and sys.stdin.isatty() and not args.no_console
    if console:
        console_logging(args, settings.base_dir)
    _check_schema(settings)
    from bot.secrets_cli import check_stored_tokens

    check_stored_tokens(settings)  # every stored channel token decrypts with the keys set
    from bot.allocator import tune_malloc

    tune_malloc()  # a C heap that stops creeping under load (bot/allocator.py)
    try:
        asyncio.run(serve(settings, console=console, role=args.role))
    except KeyboardInterrupt:
        pass
    return 0


def _check_schema(settings: Settings) -> None:
    """Refuse to start on a database that is behind the code's migrations."""
    from bot.storage.db import create_engine, head_revision, resolve_url, schema_revision

    url = resolve_url(settings.database_url, settings.base_dir)
    head = head_revision()

    async def current() -> str | None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await schema_revision(conn)
        finally:
            await engine.dispose()

    try:
        rev = asyncio.run(current())
    except Exception as exc:
        raise ConfigError(
            f"database.url: cannot connect to the database ({type(exc).__name__}: {exc})"
        ) from None
    if rev != head:
        raise ConfigError(
            f"database.url: the schema is at {rev or 'nothing'}, the code needs {head}; "
            "run `python -m bot db upgrade`"
        )


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.app import build_pipeline, build_services, build_worker
    from bot.channels.console import run_console

    settings = _settings(args)
    console_logging(args, settings.base_dir)
    _check_schema(settings)

    async def main() -> None:
        services, engine = build_services(settings)
        try:
            await run_console(build_worker(build_pipeline(services)), lang=args.lang)
        finally:
            await engine.dispose()

    asyncio.run(main())
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """The evaluation contract: JSON lines in, one JSON line out per input, in order."""
    from bot.app import build_pipeline, build_services, build_worker
    from bot.i18n import LANGUAGES
    from bot.messages import IncomingMessage, render_numbered
    from bot.storage.db import create_schema

    settings = _settings(args)

    async def main() -> None:
        services, engine = build_services(settings, database_url="sqlite+aiosqlite:///:memory:")
        await create_schema(engine)
        worker = build_worker(build_pipeline(services))
        try:
            for n, line in enumerate(sys.stdin):
                raw = line.rstrip("\n")
                if not raw.strip():
                    continue
                text, lang, session = raw, "vi", None
                if raw.lstrip().startswith("{"):
                    try:
                        obj = json.loads(raw)
                        text, lang = str(obj.get("text", "")), str(obj.get("lang") or "vi")
                        if obj.get("session") is not None:
                            session = str(obj["session"])
                    except (ValueError, AttributeError):
                        pass
                if lang not in LANGUAGES:
                    lang = "vi"
                # Lines with the same "session" are one user's conversation, in order; without one,
                # each line is a fresh user.
                sender = f"ask-s-{session}" if session is not None else f"ask-{n}"
                msg = IncomingMessage(
                    channel="ask",
                    sender_id=sender,
                    message_id=f"ask-{n}",
                    text=text,
                    locale_hint=lang,
                )
                turn = await worker.converse(msg)
                out = {
                    "intent": turn.intent or "out_of_scope",
                    "confidence": round(
                        float(turn.confidence if turn.confidence is not None else 1.0), 4
                    ),
                    "answer_id": turn.answer_id,
                    "replies": [render_numbered(r) for r in turn.replies],
                }
                sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
                sys.stdout.flush()
        finally:
            await engine.dispose()

    asyncio.run(main())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.storage.db import resolve_url, upgrade

    settings = _settings(args)
    url = resolve_url(settings.database_url, settings.base_dir)
    try:
        upgrade(url, args.revision)
    except Exception as exc:
        print(f"database.url: upgrade failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"database is at {args.revision}")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    """Exit 0 when the database is reachable and at the code's head (after a restore, say)."""
    _check_schema(_settings(args))
    print("database schema is at the code's head")
    return 0


def cmd_privacy_purge(args: argparse.Namespace) -> int:
    from bot.privacy.retention import run_purge

    return run_purge(_settings(args), dry_run=args.dry_run)


def cmd_content_check(args: argparse.Namespace) -> int:
    from bot.content_check import run_check

    root = Path(args.dir) if args.dir else None
    settings = None if root else _settings(args)
    root = root or settings.path(settings.content_dir)
    return run_check(
        root, locales_dir=Path(args.locales) if args.locales else root / "locales", out=sys.stdout
    )


def cmd_i18n(args: argparse.Namespace) -> int:
    from bot import i18n

    root = Path(args.root)
    locales = root / "content" / "locales"
    if args.action == "import-approved":  # translators' approved texts (bot/voice/catalog.py)
        from bot.voice.catalog import cli_import

        return cli_import(args.config, root)
    if args.action in ("extract", "update"):
        template = i18n.extract(root)
        stats = i18n.update(locales, template)
        for lang, (done, total) in stats.items():
            print(f"{lang}: {done}/{total} strings translated")
    if args.action == "compile":
        for path in i18n.compile_catalogs(locales, root / "var" / "locales"):
            print(f"compiled {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="Làng Số messaging assistant")
    p.add_argument(
        "--config", default=os.environ.get("LANGSO_CONFIG", "config.yml"), help="configuration file"
    )
    p.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default INFO, or LOG_LEVEL); on the console: also print logs there",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run", help="start the bot: web chat, channels and (on a terminal) the console"
    )
    r.add_argument("--no-console", action="store_true")
    r.add_argument(
        "--role",
        choices=["all", "web", "dispatcher"],
        default="all",
        help="all (default): everything in one process; web: receive, handle, send each reply "
        "at once; dispatcher: retries, the outbox and inbox sweeps, /healthz only",
    )
    r.set_defaults(func=cmd_run)
    d = sub.add_parser(
        "dispatch",
        help="run an outbox dispatcher (= run --role dispatcher): notices, retries, sweeps; "
        "several may share one PostgreSQL",
    )
    d.set_defaults(func=cmd_run, role="dispatcher", no_console=True)

    from bot.i18n import LANGUAGES

    c = sub.add_parser("chat", help="chat with the bot on this terminal")
    c.add_argument("--lang", choices=list(LANGUAGES))
    c.set_defaults(func=cmd_chat)

    a = sub.add_parser(
        "ask", help='evaluation: JSON lines {"text","lang"[,"session"]} in, JSON lines out'
    )
    a.set_defaults(func=cmd_ask)

    db = sub.add_parser("db", help="database schema")
    dbs = db.add_subparsers(dest="db_command", required=True)
    up = dbs.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    dbc = dbs.add_parser("check", help="check the database is reachable and fully migrated")
    dbc.set_defaults(func=cmd_db_check)

    pv = sub.add_parser("privacy", help="personal data")
    pvs = pv.add_subparsers(dest="privacy_command", required=True)
    pg = pvs.add_parser("purge", help="delete what is past privacy.retention_days, print counts")
    pg.add_argument("--dry-run", action="store_true", help="count only, delete nothing")
    pg.set_defaults(func=cmd_privacy_purge)

    ct = sub.add_parser("content", help="content files")
    cts = ct.add_subparsers(dest="content_command", required=True)
    chk = cts.add_parser("check", help="validate content and print translation coverage")
    chk.add_argument("--dir", help="content folder (default: from config.yml)")
    chk.add_argument("--locales", help="UI catalogs folder (default: <content>/locales)")
    chk.set_defaults(func=cmd_content_check)

    i = sub.add_parser("i18n", help="translators' workflow: extract, update, compile UI catalogs")
    i.add_argument("action", choices=["extract", "update", "compile", "import-approved"])
    i.add_argument("--root", default=".")
    i.set_defaults(func=cmd_i18n)

    from bot.content import load_items
    from nlu.cli import register as register_nlu

    register_nlu(sub, load_documents=load_items)
    try:
        from bot.channels.telegram_cli import register as register_telegram
    except ImportError:
        pass
    else:
        register_telegram(sub)
    from bot.channels.zalo_bot_cli import register as register_zalo_bot

    register_zalo_bot(sub)
    from bot.doctor import register as register_doctor
    from bot.secrets_cli import register as register_secrets

    register_doctor(sub)
    register_secrets(sub)
    from bot.flows.forms.cli import register as register_forms

    register_forms(sub)
    from bot.areas_cli import register as register_areas
    from bot.officers_cli import register as register_officers

    register_areas(sub)
    register_officers(sub)
    from bot.reports.cli import register as register_reports

    register_reports(sub)
    from bot.notices.cli import register as register_notices

    register_notices(sub)
    from bot.staff.cli import register as register_admin

    register_admin(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    if args.log_level:
        logging.getLogger().setLevel(args.log_level)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:
        from bot.errors import StartupError

        if isinstance(exc, StartupError):
            print(str(exc), file=sys.stderr)
            return EXIT_CONFIG
        raise


if __name__ == "__main__":
    sys.exit(main())
