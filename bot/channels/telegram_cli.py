"""`python -m bot telegram set-webhook | delete-webhook | info | set-commands`.

set-webhook tells Telegram to POST updates to `telegram.webhook_url` with `telegram.webhook_secret`
in the X-Telegram-Bot-Api-Secret-Token header (the bot refuses requests without it);
delete-webhook goes back to polling; info shows what Telegram has (getMe, getWebhookInfo);
set-commands fills the bot's command menu.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.config import Settings, TelegramSettings, load_settings
from bot.core.commands import telegram_menu

EXIT_CONFIG = 2
EXIT_API = 1

# The command menu: (command, Vietnamese description), from the one command table the dialogue
# reads too (bot.core.commands).
COMMANDS = telegram_menu()


class CliError(Exception):
    """What the operator must fix; printed as is."""

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.code = code


def _need_token(tg: TelegramSettings) -> None:
    if not tg.token:
        raise CliError(
            "telegram.token is empty: create a bot with @BotFather in Telegram and set "
            "TELEGRAM_BOT_TOKEN=<the token it gives you> (see docs/telegram.md)"
        )


async def _with_bot(tg: TelegramSettings, fn: Any) -> Any:
    """Run `fn(bot)` with an initialised bot, turning Bot API errors into operator messages."""
    from telegram import error as tg_error

    from bot.channels.telegram import api_base_url, build_application, quiet_http_loggers, redact

    _need_token(tg)
    quiet_http_loggers()
    application = build_application(tg)
    try:
        async with application.bot as bot:
            return await fn(bot)
    except tg_error.InvalidToken:
        raise CliError(
            "Telegram refused the token (telegram.token / TELEGRAM_BOT_TOKEN): copy it again "
            "from @BotFather (/mybots -> API Token)",
            EXIT_API,
        ) from None
    except tg_error.NetworkError as exc:
        raise CliError(
            f"cannot reach the Bot API at {redact(api_base_url(tg), tg.token)} "
            f"({redact(str(exc), tg.token)}); check TELEGRAM_API_BASE_URL and the network",
            EXIT_API,
        ) from None
    except tg_error.TelegramError as exc:
        raise CliError(
            f"Telegram refused the request: {redact(str(exc), tg.token)}", EXIT_API
        ) from None


async def set_webhook(tg: TelegramSettings, drop_pending: bool = False) -> str:
    from bot.channels.telegram import ALLOWED_UPDATES

    if not tg.webhook_url:
        raise CliError(
            "telegram.webhook_url is empty: set TELEGRAM_WEBHOOK_URL to the public "
            "https:// address "
            "that reaches this bot (e.g. https://bot.example.gov.vn/telegram/webhook)"
        )
    if not tg.webhook_secret:
        raise CliError(
            "telegram.webhook_secret is empty: set TELEGRAM_WEBHOOK_SECRET "
            "(1-256 characters of A-Z a-z 0-9 _ -, e.g. from `openssl rand -hex 32`)"
        )

    async def go(bot: Any) -> str:
        await bot.set_webhook(
            tg.webhook_url,
            secret_token=tg.webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=drop_pending,
        )
        return f"webhook set: Telegram now sends updates to {tg.webhook_url}"

    return await _with_bot(tg, go)


async def delete_webhook(tg: TelegramSettings, drop_pending: bool = False) -> str:
    async def go(bot: Any) -> str:
        await bot.delete_webhook(drop_pending_updates=drop_pending)
        return (
            "webhook deleted: the bot receives updates by polling "
            "(leave TELEGRAM_WEBHOOK_URL empty)"
        )

    return await _with_bot(tg, go)


async def set_commands(tg: TelegramSettings) -> str:
    from telegram import BotCommand

    async def go(bot: Any) -> str:
        await bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        return f"command menu set: {' '.join('/' + c for c, _ in COMMANDS)}"

    return await _with_bot(tg, go)


def _when(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


async def info(tg: TelegramSettings) -> str:
    from bot.channels.telegram import api_base_url

    async def go(bot: Any) -> str:
        me = await bot.get_me()
        hook = await bot.get_webhook_info()
        lines = [
            f"bot:                 @{me.username} (id {me.id}, {me.first_name})",
            f"Bot API:             {api_base_url(tg)}",
            f"configured mode:     {'webhook ' + tg.webhook_url if tg.webhook_url else 'polling'}",
            f"webhook at Telegram: {hook.url or 'none (polling)'}",
            f"pending updates:     {hook.pending_update_count}",
        ]
        if hook.url:
            lines.append(f"max connections:     {hook.max_connections or '-'}")
            lines.append(f"allowed updates:     {', '.join(hook.allowed_updates or ()) or 'all'}")
        if hook.last_error_message:
            lines.append(
                f"last error:          {_when(hook.last_error_date)}: {hook.last_error_message}"
            )
        if tg.webhook_url and hook.url != tg.webhook_url:
            lines.append(
                "note: the configured webhook is not the one Telegram uses; run "
                "`python -m bot telegram set-webhook`"
            )
        if not tg.webhook_url and hook.url:
            lines.append(
                "note: a webhook is set but the bot is configured for polling; `python -m bot run` "
                "deletes it when polling starts, or run `python -m bot telegram delete-webhook`"
            )
        return "\n".join(lines)

    return await _with_bot(tg, go)


ACTIONS = {
    "set-webhook": lambda tg, args: set_webhook(tg, args.drop_pending),
    "delete-webhook": lambda tg, args: delete_webhook(tg, args.drop_pending),
    "info": lambda tg, args: info(tg),
    "set-commands": lambda tg, args: set_commands(tg),
}


def run(
    args: argparse.Namespace,
    settings: Settings | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        settings = settings or load_settings(args.config)
        message = asyncio.run(ACTIONS[args.telegram_command](settings.telegram, args))
    except CliError as exc:
        print(str(exc), file=err)
        return exc.code
    print(message, file=out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    tg = subparsers.add_parser("telegram", help="Telegram: webhook, bot info, command menu")
    sub = tg.add_subparsers(dest="telegram_command", required=True)
    sw = sub.add_parser(
        "set-webhook", help="send updates to telegram.webhook_url (with the secret header)"
    )
    sw.add_argument(
        "--drop-pending", action="store_true", help="discard updates Telegram is still holding"
    )
    dw = sub.add_parser("delete-webhook", help="remove the webhook (back to polling)")
    dw.add_argument(
        "--drop-pending", action="store_true", help="discard updates Telegram is still holding"
    )
    sub.add_parser(
        "info", help="show the bot (getMe) and the webhook Telegram has (getWebhookInfo)"
    )
    sub.add_parser(
        "set-commands", help="fill the bot's command menu (/start, /trogiup, /baocao ...)"
    )
    tg.set_defaults(func=run)
