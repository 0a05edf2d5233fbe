"""The pipeline's middlewares, in order: inbox de-duplication, user, consent, locale, flood limit.

Each is `async def mw(ctx, next)`; it may stop the message (`ctx.stop = True` or not calling next).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime

from sqlalchemy import select

from bot.i18n import LANGUAGES, N_
from bot.pipeline import Context, Next
from bot.storage import inbox
from bot.storage.inbox import dialect_insert
from bot.storage.models import Consent, User

MAX_TEXT_CHARS = 2000  # longer texts are cut: nobody types more on a phone, and it bounds NLU cost


class SessionMemory:
    """Short-lived, in-process memory per user: what must not be stored before consent.

    Holds the chosen language of users who have not consented (language can reveal ethnicity),
    whether they were already asked to choose one, and the flood-limit windows. Bounded LRU.
    """

    def __init__(self, key: str = "", max_users: int = 50_000, ttl_seconds: float = 24 * 3600) -> None:
        self._key = (key or secrets.token_hex(16)).encode()
        self.max_users = max_users
        self.ttl = ttl_seconds
        self._data: OrderedDict[tuple[str, str], dict] = OrderedDict()

    def pseudonym(self, channel: str, sender_id: str) -> str:
        """A stable, keyed hash of a user id: what logs show instead of the id."""
        return hmac.new(self._key, f"{channel}:{sender_id}".encode(), hashlib.sha256).hexdigest()[:12]

    def get(self, channel: str, sender_id: str) -> dict:
        k = (channel, sender_id)
        now = time.monotonic()
        entry = self._data.get(k)
        if entry is None or now - entry["_seen"] > self.ttl:
            entry = {"_seen": now}
            self._data[k] = entry
        entry["_seen"] = now
        self._data.move_to_end(k)
        while len(self._data) > self.max_users:
            self._data.popitem(last=False)
        return entry

    def forget(self, channel: str, sender_id: str) -> None:
        self._data.pop((channel, sender_id), None)


async def dedup(ctx: Context, nxt: Next) -> None:
    """Answer each (channel, message id) once, and mark it done with the rest of the transaction."""
    if not await inbox.claim(ctx.session, ctx.msg.channel, ctx.msg.message_id):
        ctx.turn.duplicate = True
        return
    await nxt(ctx)


async def user(ctx: Context, nxt: Next) -> None:
    """Find or create the user row (channel + platform id only: no personal data yet)."""
    msg = ctx.msg
    now = datetime.now(UTC)
    # One upsert that also returns the row; writing to us makes a user reachable again.
    stmt = (
        dialect_insert(ctx.session, User)
        .values(channel=msg.channel, external_id=msg.sender_id, state={}, role="villager", reachable=True,
                created_at=now, last_seen_at=now)
        .on_conflict_do_update(index_elements=["channel", "external_id"], set_={"last_seen_at": now, "reachable": True})
        .returning(User)
    )
    ctx.user = (await ctx.session.scalars(stmt, execution_options={"populate_existing": True})).one()
    await nxt(ctx)


async def consent(ctx: Context, nxt: Next) -> None:
    """Make the user's consents available; loaded on first use, since most messages need none."""
    ctx.consents = None
    await nxt(ctx)


async def load_consents(ctx: Context) -> set[str]:
    """Purposes this user consented to under the current notice version (cached per message)."""
    if ctx.consents is None:
        if ctx.user is None:
            return set()
        rows = await ctx.session.execute(
            select(Consent.purpose).where(
                Consent.user_id == ctx.user.id,
                Consent.withdrawn_at.is_(None),
                Consent.notice_version >= ctx.settings.privacy.notice_version,
            )
        )
        ctx.consents = set(rows.scalars())
    return ctx.consents


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
    """At most `limits.flood_messages` messages per user per window; tell them once, then stay quiet."""
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
