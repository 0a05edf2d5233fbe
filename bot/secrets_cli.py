"""`python -m bot secrets generate-key | status | rotate | forget CHANNEL`: the keys that encrypt
the stored channel tokens (bot/crypto.py; the procedure is in docs/secrets.md).

And the start-up check `python -m bot run` makes: every stored token decrypts with the configured
keys, or the bot refuses to start with a message saying what to do (`TokenKeyError`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot import crypto
from bot.config import Settings, load_settings
from bot.storage.repositories import tokens


async def _with_session(settings: Settings, work):
    """`work(session)` on the configured database (bot.storage.db.with_session)."""
    from bot.storage.db import resolve_url, with_session

    return await with_session(resolve_url(settings.database_url, settings.base_dir), work)


def check_stored_tokens(settings: Settings) -> None:
    """Refuse to start (TokenKeyError) when a stored token cannot be decrypted. Reads the
    database once; the development key is only created when there is something to decrypt."""

    async def work(session):
        from sqlalchemy import func, select

        from bot.storage.models import ChannelToken

        if not (await session.execute(select(func.count()).select_from(ChannelToken))).scalar():
            return
        await tokens.check(session, crypto.cipher_for(settings))

    asyncio.run(_with_session(settings, work))


def cmd_generate_key(args: argparse.Namespace) -> int:
    print(crypto.generate_key())
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    cipher = crypto.cipher_for(settings)
    states = asyncio.run(_with_session(settings, lambda s: tokens.check(s, cipher)))
    print(f"keys: {cipher.key_count} from {cipher.source}")
    for channel, state in states:
        print(f"{channel}: {state}")
    if not states:
        print("no stored channel tokens")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    cipher = crypto.cipher_for(settings)
    done = asyncio.run(_with_session(settings, lambda s: tokens.rotate(s, cipher)))
    print(
        f"re-encrypted {done.rows} stored token pair(s) with the first key of {cipher.source} "
        f"({done.already} already were); the other keys can now be removed"
    )
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    gone = asyncio.run(_with_session(settings, lambda s: tokens.forget(s, args.channel)))
    if gone:
        print(
            f"deleted the stored {args.channel} tokens; the bot seeds new ones from the settings "
            "(ZALO_ACCESS_TOKEN / ZALO_REFRESH_TOKEN) when it starts"
        )
    else:
        print(f"no stored {args.channel} tokens", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secrets", help="keys of the channel tokens stored in the database")
    ps = p.add_subparsers(dest="secrets_command", required=True)
    ps.add_parser("generate-key", help="print a new Fernet key").set_defaults(func=cmd_generate_key)
    ps.add_parser("status", help="which key each stored token pair is encrypted with").set_defaults(
        func=cmd_status
    )
    ps.add_parser(
        "rotate", help="re-encrypt every stored token with the first key of TOKEN_ENCRYPTION_KEYS"
    ).set_defaults(func=cmd_rotate)
    f = ps.add_parser("forget", help="delete a channel's stored tokens (when their key is lost)")
    f.add_argument("channel", choices=["zalo"])
    f.set_defaults(func=cmd_forget)
