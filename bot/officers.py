"""Roles and officers: villager (everyone, by default), officer (bound to an area), admin.

An admin makes a one-time invite code for an area (`python -m bot officers invite --area
qng.ba_dong --expires 7d`, bot/officers_cli.py) and gives it to the officer, who sends
`/macanbo K7QF-9XPA` in the chat (actions/officers.py). `/macanbo`, not `/canbo`: `/canbo`
already means "talk to a person", and a code typed without a command could be a feedback
tracking code (same kind of alphabet): the command says what the code is for.

- Codes: 8 characters from an alphabet without 0/O, 1/I/L (`ALPHABET`), shown as "K7QF-9XPA",
  accepted with or without the dash or spaces, in any case. 31^8 is about 8.5e11 codes.
- Stored as a keyed hash only (HMAC-SHA256; the key is derived from the token encryption keys,
  `TOKEN_ENCRYPTION_KEYS`, which production sets and keeps apart from the database, bot/crypto.py):
  a dump of the database gives no usable code, and the 2^40 codes cannot be tried offline
  without the key. Every configured key is tried when a code is checked, so rotating the token
  keys keeps the codes made before working.
- Single use (one conditional UPDATE), expiring, revocable.
- Guessing is limited per person: `MAX_WRONG_TRIES` wrong codes within `WRONG_TRY_WINDOW`, then
  "try again in N minutes". The tries are rows in the database (keyed hash of channel + platform
  id), so the limit holds across processes, restarts and an erasure of the user.

Joining stores the officer's chat id with a role and area: it asks the consent of the "report"
purpose (the officer's reports are why it is kept) through the consent flow first.

What other parts use: `role_of(user)`, `is_officer(user)`, `officer_area(session, user_id)`
(the area an officer's report defaults to), `require_officer(ctx)` (says what to do when not).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.storage.repositories import officers as repo

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.config import Settings
    from bot.core.context import Context
    from bot.storage.models import InviteCode, User

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8
MAX_WRONG_TRIES = 5
WRONG_TRY_WINDOW = timedelta(hours=1)
MAX_EXPIRY = timedelta(days=90)
TRANSLATED_LANGUAGES = ("hre", "cua", "sed")  # a translator invite is bound to one
_SEPARATORS = re.compile(r"[\s\-_.·–—]+")
# A code as typed: two groups of four, with or without a separator between them ("k7qf 9xpa",
# "K7QF-9XPA"); not eight letters spread over words ("the du an 7" is a question).
CODE_RE = re.compile(r"\A\s*([0-9A-Za-z]{4})[\s\-_.·–—]*([0-9A-Za-z]{4})\s*\Z")


def typed_code(text: str) -> str | None:
    """The eight characters of a code as typed, upper case, or None when it is not shaped as
    one (`CODE_RE`); whether they are of the alphabet is the caller's test."""
    m = CODE_RE.match(text or "")
    return (m.group(1) + m.group(2)).upper() if m else None


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def show(code: str) -> str:
    """ "K7QF9XPA" -> "K7QF-9XPA" (easier to read out and type)."""
    return f"{code[:4]}-{code[4:]}"


def normalize(text: str) -> str | None:
    """The code typed ("k7qf 9xpa", "K7QF-9XPA"), or None when it cannot be one."""
    code = typed_code(text)
    if code is None or len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def looks_like_a_try(text: str) -> bool:
    """Text that is meant as a code but is mistyped (a letter O, one character short): one or two
    groups of letters and digits, not a sentence."""
    groups = _SEPARATORS.split((text or "").strip())
    code = "".join(groups)
    return (
        len(groups) <= 2
        and 6 <= len(code) <= 10
        and code.isascii()
        and code.isalnum()
        and len(text) <= 14
    )


def parse_expiry(text: str) -> timedelta:
    """ "7d", "12h", "30m", "2w" -> a duration (at most `MAX_EXPIRY`); ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d{1,4})\s*([mhdw])\s*", (text or "").lower())
    if m is None:
        raise ValueError(f"expiry {text!r}: write a number and m, h, d or w, e.g. 7d")
    n, unit = int(m.group(1)), m.group(2)
    delta = {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}.get(
        unit, timedelta(weeks=n)
    )
    if delta <= timedelta(0) or delta > MAX_EXPIRY:
        raise ValueError(f"expiry {text!r}: between 1 minute and {MAX_EXPIRY.days} days")
    return delta


# ---- keys ----------------------------------------------------------------------------------


def _base_keys(settings: Settings) -> list[bytes]:
    from bot import crypto

    if settings.privacy.token_encryption_keys.strip():
        return crypto.parse_keys(settings.privacy.token_encryption_keys)
    key = crypto._dev_key(settings.base_dir / crypto.DEV_KEY_FILE, True)
    assert key is not None
    return [key]


def _subkeys(settings: Settings, purpose: bytes) -> list[bytes]:
    return [hmac.new(k, purpose, hashlib.sha256).digest() for k in _base_keys(settings)]


def code_hashes(settings: Settings, code: str) -> list[str]:
    """The code's keyed hash under every configured key, the current key's first."""
    return [
        hmac.new(k, code.encode("ascii"), hashlib.sha256).hexdigest()
        for k in _subkeys(settings, b"langso invite code v1")
    ]


def who(settings: Settings, channel: str, sender_id: str) -> str:
    """The person a wrong try is counted for: a keyed hash, not the chat id."""
    key = _subkeys(settings, b"langso invite tries v1")[0]
    return hmac.new(key, f"{channel}\x00{sender_id}".encode(), hashlib.sha256).hexdigest()


# ---- invites -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    id: int
    code: str  # shown once, to the admin; never stored
    area_code: str
    role: str
    expires_at: datetime


async def make_invite(
    session: AsyncSession,
    settings: Settings,
    area_code: str,
    expires_in: timedelta,
    role: str = "officer",
    now: datetime | None = None,
    lang: str | None = None,
) -> Made:
    """A new code for `area_code` (checked by the caller against the tree). No commit.
    A "translator" invite is bound to a minority language `lang` instead (bot/voice/)."""
    if role not in ("officer", "admin", "translator"):
        raise ValueError(f"an invite grants officer, admin or translator, not {role!r}")
    if (role == "translator") != (lang is not None):
        raise ValueError("a translator invite needs a language (hre, cua, sed), others none")
    if lang is not None and lang not in TRANSLATED_LANGUAGES:
        raise ValueError(f"lang: one of {', '.join(TRANSLATED_LANGUAGES)}, not {lang!r}")
    now = now or datetime.now(UTC)
    code = new_code()
    invite = repo.add_invite(
        session,
        code_hashes(settings, code)[0],
        code[:2],
        role,
        area_code,
        now + expires_in,
        now,
    )
    invite.lang = lang
    await session.flush()
    return Made(invite.id, code, area_code, role, invite.expires_at)


def state_of(invite: InviteCode, now: datetime | None = None) -> str:
    """unused, used, deactivated (used, then the officer was deactivated), revoked, expired."""
    now = now or datetime.now(UTC)
    if invite.used_at is not None:
        return "deactivated" if invite.deactivated_at is not None else "used"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    return "unused"


class Outcome(enum.Enum):
    JOINED = "joined"
    MALFORMED = "malformed"  # not a code at all: not counted as a try
    LIMITED = "limited"  # too many wrong tries: not even checked
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    NEEDS_CONSENT = "needs_consent"  # the code is good; the consent comes first


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    invite: InviteCode | None = None
    retry_after: timedelta | None = None  # LIMITED: when the oldest wrong try stops counting
    tries_left: int | None = None  # after a wrong try


async def limited(
    session: AsyncSession, settings: Settings, channel: str, sender_id: str, now: datetime
) -> timedelta | None:
    """How long until this person may try again, or None when they may now."""
    tries = await repo.wrong_tries(
        session, who(settings, channel, sender_id), now - WRONG_TRY_WINDOW
    )
    if len(tries) < MAX_WRONG_TRIES:
        return None
    return tries[-MAX_WRONG_TRIES] + WRONG_TRY_WINDOW - now


async def check_code(
    session: AsyncSession,
    settings: Settings,
    channel: str,
    sender_id: str,
    text: str | None,
    code_hash: str | None = None,
    now: datetime | None = None,
) -> Result:
    """Is this a code the person may redeem? A wrong one is counted against them (committed
    with the turn). `code_hash`: a code checked before (kept while consent was asked)."""
    now = now or datetime.now(UTC)
    wait = await limited(session, settings, channel, sender_id, now)
    if wait is not None:
        return Result(Outcome.LIMITED, retry_after=wait)
    if code_hash is not None:
        hashes = [code_hash]
    else:
        code = normalize(text or "")
        if code is None:
            return Result(Outcome.MALFORMED)
        hashes = code_hashes(settings, code)
    invite = await repo.find_invite(session, hashes)
    state = state_of(invite, now) if invite is not None else None
    if invite is not None and state == "unused":
        return Result(Outcome.JOINED, invite)
    outcome = {
        None: Outcome.UNKNOWN,
        "used": Outcome.USED,
        "deactivated": Outcome.USED,
        "revoked": Outcome.REVOKED,
        "expired": Outcome.EXPIRED,
    }[state]
    key = who(settings, channel, sender_id)
    await repo.add_wrong_try(session, key, now, WRONG_TRY_WINDOW)
    used = len(await repo.wrong_tries(session, key, now - WRONG_TRY_WINDOW))
    return Result(outcome, invite, tries_left=max(0, MAX_WRONG_TRIES - used))


async def redeem(session: AsyncSession, user: User, invite: InviteCode) -> bool:
    """Bind the user to the invite's role and area; False when the code went meanwhile."""
    now = datetime.now(UTC)
    if not await repo.claim_invite(session, invite.id, user.id, now):
        return False
    if invite.role == "translator":  # a language, not a role on the user (bot/voice/)
        from bot.storage.repositories import voice

        await voice.add_translator(session, user.id, invite.lang or "", invite.id)
        return True
    repo.set_role(user, invite.role, invite.area_code)
    return True


# ---- what other parts use ------------------------------------------------------------------


def role_of(user: User | None) -> str:
    role = getattr(user, "role", None) or "villager"
    return role if role in repo.ROLES else "villager"


def is_officer(user: User | None) -> bool:
    """Officers and admins (an admin may do what an officer does)."""
    return role_of(user) in ("officer", "admin")


async def officer_area(session: AsyncSession, user_id: int) -> str | None:
    """The area an officer's reports default to (a dotted code), None for a villager."""
    return await repo.officer_area(session, user_id)


async def require_officer(ctx: Context) -> bool:
    """True for an officer or admin; otherwise say how to become one and return False."""
    if is_officer(ctx.user):
        return True
    ctx.say(
        ctx._(
            "Phần này dành cho cán bộ. Nếu bạn là cán bộ, gõ /macanbo và mã mời "
            "do tỉnh cấp, ví dụ: /macanbo K7QF-9XPA"
        )
    )
    return False
