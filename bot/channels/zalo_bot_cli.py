"""`python -m bot zalo-bot set-webhook | delete-webhook | info`.

set-webhook tells Zalo to POST updates to `zalo_bot.webhook_url` with `zalo_bot.webhook_secret`
in the X-Bot-Api-Secret-Token header (the bot refuses requests without it); delete-webhook goes
back to polling; info shows the bot (getMe) and the webhook Zalo has (getWebhookInfo). The token
is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from bot.config import Settings, ZaloBotSettings, load_settings

EXIT_CONFIG = 2
EXIT_API = 1


class CliError(Exception):
    """What the operator must fix; printed as is."""

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.code = code


async def _with_api(s: ZaloBotSettings, fn: Callable[[Any], Awaitable[str]]) -> str:
    """Run `fn(api)`, turning Bot API errors into operator messages."""
    from bot.channels.zalo_bot import TOKEN_REFUSED, ApiError, BotApi

    if not s.token:
        raise CliError(
            "zalo_bot.token is empty: create a bot in Zalo (Zalo Bot Manager -> Tạo bot) and set "
            "ZALO_BOT_TOKEN=<the Bot Token it sends you> (see docs/zalo-bot.md)"
        )
    api = BotApi(s)
    try:
        return await fn(api)
    except ApiError as exc:
        if exc.code == TOKEN_REFUSED:
            raise CliError(
                "Zalo refused the token (zalo_bot.token / ZALO_BOT_TOKEN): copy it again from "
                "Zalo Bot Manager",
                EXIT_API,
            ) from None
        if exc.code == 0:
            raise CliError(
                f"cannot reach the Bot API at {api.base} ({exc.description}); check "
                "ZALO_BOT_API_BASE_URL and the network",
                EXIT_API,
            ) from None
        raise CliError(
            f"Zalo refused the request: {exc.code} {exc.description}", EXIT_API
        ) from None
    finally:
        await api.close()


async def set_webhook(s: ZaloBotSettings) -> str:
    if not s.webhook_url:
        raise CliError(
            "zalo_bot.webhook_url is empty: set ZALO_BOT_WEBHOOK_URL to the public https:// "
            "address that reaches this bot (e.g. https://bot.example.gov.vn/zalo-bot/webhook)"
        )
    if not 8 <= len(s.webhook_secret) <= 256:
        raise CliError(
            "zalo_bot.webhook_secret: set ZALO_BOT_WEBHOOK_SECRET to 8-256 characters of "
            "A-Z a-z 0-9 _ - (e.g. from `openssl rand -hex 32`)"
        )

    async def go(api: Any) -> str:
        await api.call("setWebhook", {"url": s.webhook_url, "secret_token": s.webhook_secret})
        return f"webhook set: Zalo now sends updates to {s.webhook_url}"

    return await _with_api(s, go)


async def delete_webhook(s: ZaloBotSettings) -> str:
    async def go(api: Any) -> str:
        await api.call("deleteWebhook")
        return "webhook deleted: the bot receives updates by polling (ZALO_BOT_WEBHOOK_URL empty)"

    return await _with_api(s, go)


async def info(s: ZaloBotSettings) -> str:
    async def go(api: Any) -> str:
        me = await api.call("getMe") or {}
        hook = await api.call("getWebhookInfo") or {}
        url = hook.get("url") if isinstance(hook, dict) else None
        lines = [
            f"bot:               {me.get('account_name', '?')} (id {me.get('id', '?')}, "
            f"{me.get('account_type', '?')})",
            f"Bot API:           {api.base}",
            f"configured mode:   {'webhook ' + s.webhook_url if s.webhook_url else 'polling'}",
            f"webhook at Zalo:   {url or 'none (polling)'}",
        ]
        if s.webhook_url and url != s.webhook_url:
            lines.append(
                "note: the configured webhook is not the one Zalo uses; run "
                "`python -m bot zalo-bot set-webhook`"
            )
        if not s.webhook_url and url:
            lines.append(
                "note: a webhook is set but the bot is configured for polling; `python -m bot run` "
                "deletes it when polling starts, or run `python -m bot zalo-bot delete-webhook`"
            )
        return "\n".join(lines)

    return await _with_api(s, go)


ACTIONS = {"set-webhook": set_webhook, "delete-webhook": delete_webhook, "info": info}


def run(
    args: argparse.Namespace,
    settings: Settings | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        settings = settings or load_settings(args.config)
        message = asyncio.run(ACTIONS[args.zalo_bot_command](settings.zalo_bot))
    except CliError as exc:
        print(str(exc), file=err)
        return exc.code
    print(message, file=out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    zb = subparsers.add_parser("zalo-bot", help="Zalo Bot Platform: webhook, bot info")
    sub = zb.add_subparsers(dest="zalo_bot_command", required=True)
    sub.add_parser("set-webhook", help="send updates to zalo_bot.webhook_url (with the secret)")
    sub.add_parser("delete-webhook", help="remove the webhook (back to polling)")
    sub.add_parser("info", help="show the bot (getMe) and the webhook Zalo has (getWebhookInfo)")
    zb.set_defaults(func=run)
