"""The pipeline's middlewares, in order: inbox de-duplication, user, consent, locale, flood limit.

Each is `async def mw(ctx, next)`; it may stop the message (`ctx.stop = True` or not calling next).
"""

from __future__ import annotations

import time
from collections import deque

from bot.core.context import Context
from bot.core.pipeline import Next
from bot.i18n import LANGUAGES, N_
from bot.storage.repositories import inbox, users

MAX_TEXT_CHARS = 2000  # longer texts are cut: nobody types more on a phone, and it bounds NLU cost


async def dedup(ctx: Context, nxt: Next) -> None:
    """Answer each (channel, message id) once, and mark it done with the rest of the transaction."""
    if not await inbox.claim(ctx.session, ctx.msg.channel, ctx.msg.message_id):
        ctx.turn.duplicate = True
        return
    await nxt(ctx)


async def user(ctx: Context, nxt: Next) -> None:
    """Find or create the user row (channel + platform id only: no personal data yet)."""
    ctx.user = await users.upsert(ctx.session, ctx.msg.channel, ctx.msg.sender_id)
    await nxt(ctx)


async def consent(ctx: Context, nxt: Next) -> None:
    """Make the user's consents available; loaded on first use (`Context.load_consents`)."""
    ctx.consents = None
    await nxt(ctx)


async def locale(ctx: Context, nxt: Next) -> None:
    """Pick the language: the channel's hint, the stored choice (after consent), the session."""
    assert ctx.user is not None
    memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
    lang = None
    for candidate in (ctx.msg.locale_hint, ctx.user.locale, memory.get("lang")):
        if candidate in LANGUAGES:
            lang = candidate
            break
    ctx.lang_known = lang is not None
    ctx.lang = lang or ctx.settings.default_language
    ctx.t = ctx.services.catalogs.for_lang(ctx.lang)
    await nxt(ctx)


FLOOD_TEXT = N_("Bạn gửi nhanh quá. Xin chờ một chút rồi gửi lại.")


async def flood_limit(ctx: Context, nxt: Next) -> None:
    """At most `limits.flood_messages` messages per user per window; tell them once, then stay
    quiet."""
    memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
    window: deque = memory.setdefault("flood", deque())
    now = time.monotonic()
    limits = ctx.settings.limits
    while window and now - window[0] > limits.flood_window_seconds:
        window.popleft()
    if len(window) >= limits.flood_messages:
        if not memory.get("flood_told"):
            memory["flood_told"] = True
            ctx.say(ctx._(FLOOD_TEXT))
        ctx.turn.intent = "flood"
        return
    memory["flood_told"] = False
    window.append(now)
    await nxt(ctx)


DEFAULT_MIDDLEWARES = [dedup, user, consent, locale, flood_limit]
