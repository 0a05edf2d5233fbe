"""The pipeline's middlewares, in order: inbox de-duplication, the overview's count, user,
consent, locale, flood limit.

Each is `async def mw(ctx, next)`; it may stop the message (`ctx.stop = True` or not calling next).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from bot.core.context import Context
from bot.core.pipeline import Next
from bot.i18n import LANGUAGES, N_
from bot.storage.repositories import inbox, stats, users

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


FLOOD_TEXT = N_("Bạn gửi nhanh quá. Xin chờ {seconds} giây rồi gửi lại.")
clock = time.monotonic  # the flood limit's clock (tests move it by hand)


async def flood_limit(ctx: Context, nxt: Next) -> None:
    """A token bucket per user: bursts of up to `limits.flood_messages`, and one message back
    every `limits.flood_refill_seconds`.

    A person reading answers and typing on a phone sends well under a message a second; tapping
    through menus or sending a few lines at once is a short burst, which the bucket's size
    absorbs. One message a second for as long as they like never runs out; a script sending
    faster gets a burst, then one a second. A message over the limit is not handled; the first
    one of a run is answered with how long to wait, the rest of the run are not (a reply per
    message would be the flood again).
    """
    memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
    limits = ctx.settings.limits
    now = clock()
    tokens, last = memory.get("flood", (float(limits.flood_messages), now))
    tokens = min(float(limits.flood_messages), tokens + (now - last) / limits.flood_refill_seconds)
    if tokens < 1.0:
        memory["flood"] = (tokens, now)
        if not memory.get("flood_told"):
            memory["flood_told"] = True
            wait = max(1, math.ceil((1.0 - tokens) * limits.flood_refill_seconds))
            ctx.say(ctx._(FLOOD_TEXT).format(seconds=wait))
        ctx.turn.intent = "flood"
        return
    memory["flood"] = (tokens - 1.0, now)
    memory["flood_told"] = False
    await nxt(ctx)


async def count(ctx: Context, nxt: Next) -> None:
    """Count the handled message for the staff overview (bot.storage.repositories.stats): its
    day, channel, language and outcome (answered by an item, not answered: the fallback ran,
    other). One upsert after the dialogue, so on PostgreSQL its row is locked only until the
    commit; nothing about the person."""
    await nxt(ctx)
    if ctx.turn.duplicate or ctx.turn.intent == "flood":
        return
    if ctx.turn.answer_id:
        outcome = stats.ANSWERED
    elif "fallback" in ctx.turn.actions:
        outcome = stats.NOT_ANSWERED
    else:
        outcome = stats.OTHER
    await stats.count_turn(
        ctx.session,
        datetime.now(UTC),
        ctx.settings.timezone,
        ctx.msg.channel,
        ctx.lang,
        outcome,
        ctx.msg.sender_id,
    )


DEFAULT_MIDDLEWARES = [dedup, count, user, consent, locale, flood_limit]
