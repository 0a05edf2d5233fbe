"""Tracking codes of feedback, and the status a code shows.

- A code is 8 characters from the officers' alphabet without 0/O, 1/I/L (bot/officers.py), drawn
  with `secrets`, holding at least one digit and one letter (so a word typed alone is never read
  as a code), shown "K7QF-9XPA", accepted in any case, with or without the dash. 31^8 is about
  8.5e11; a taken code is drawn again (bot/storage/repositories/feedback.py).
- The code is the credential, like a parcel's tracking number: whoever holds it sees the
  feedback's category, date, status and the staff's reply; only its owner also sees what they
  wrote. Wrong codes are limited per person (`MAX_WRONG_TRIES` an hour), counted as the officers'
  invite tries are (keyed hash of channel and platform id, in the database), under a key of
  their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot import officers
from bot.i18n import N_
from bot.storage.repositories import officers as tries

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.config import Settings

ALPHABET = officers.ALPHABET
LENGTH = 8
MAX_WRONG_TRIES = 10
WRONG_TRY_WINDOW = officers.WRONG_TRY_WINDOW
_DIGITS = set("23456789")

STATUS_LABELS = {
    "submitted": N_("đã gửi, chờ tiếp nhận"),
    "received": N_("đã tiếp nhận"),
    "in_progress": N_("đang xử lý"),
    "resolved": N_("đã giải quyết"),
    "rejected": N_("không giải quyết được"),
}


def new_code() -> str:
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if any(c in _DIGITS for c in code) and any(c not in _DIGITS for c in code):
            return code


def show(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalize(text: str) -> str | None:
    """The code typed ("k7qf 9xpa", "K7QF-9XPA"), or None when it cannot be one."""
    if len(text or "") > 14:
        return None
    code = officers.typed_code(text)  # two groups of four: "the du an 7" is not a code
    if code is None or any(c not in ALPHABET for c in code):
        return None
    if not (any(c in _DIGITS for c in code) and any(c not in _DIGITS for c in code)):
        return None
    return code


def who(settings: Settings, channel: str, sender_id: str) -> str:
    key = officers._subkeys(settings, b"langso tracking tries v1")[0]
    return hmac.new(key, f"{channel}\x00{sender_id}".encode(), hashlib.sha256).hexdigest()


async def wait_before_try(
    session: AsyncSession, settings: Settings, channel: str, sender_id: str
) -> timedelta | None:
    """How long until this person may try a code again; None when they may now."""
    now = datetime.now(UTC)
    got = await tries.wrong_tries(
        session, who(settings, channel, sender_id), now - WRONG_TRY_WINDOW
    )
    if len(got) < MAX_WRONG_TRIES:
        return None
    return got[-MAX_WRONG_TRIES] + WRONG_TRY_WINDOW - now


async def count_wrong_try(
    session: AsyncSession, settings: Settings, channel: str, sender_id: str
) -> None:
    now = datetime.now(UTC)
    await tries.add_wrong_try(session, who(settings, channel, sender_id), now, WRONG_TRY_WINDOW)
