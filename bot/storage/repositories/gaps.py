"""Content gaps (`content_gaps`): questions no content item covers, counted for the province.

`record` is called in the message's transaction when the bot had to say it has no information on
what was asked. It stores the question as the NLU normalised it, with phone-like digit runs and
long numbers (an id card, an account) replaced by `#`, the language and channel, and the closest
items offered; never the user's id. The same question again (same text, language, channel) adds
one to its count in one statement (`INSERT ... ON CONFLICT DO UPDATE`, on SQLite and PostgreSQL),
so two processes counting at once cannot fail a turn. `top` lists them for the dashboard.
Question texts never go to logs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ContentGap, utcnow

MAX_QUESTION_CHARS = 300
# Runs of 6 or more digits, spaces, dots or dashes between them allowed ("0905 123 456",
# "090.512.3456", "+84 905..."): phone numbers and id numbers, not amounts or years.
_LONG_DIGITS_RE = re.compile(r"\+?\d(?:[\s.\-]?\d){5,}")
_EMAIL_RE = re.compile(r"\S+@\S+")


def scrub(text: str) -> str:
    """The question without phone-like digit runs or e-mail addresses, spaces collapsed, cut to
    the column."""
    text = _EMAIL_RE.sub("#", text or "")
    text = _LONG_DIGITS_RE.sub("#", text)
    return " ".join(text.split())[:MAX_QUESTION_CHARS]


@dataclass(frozen=True)
class Gap:
    question: str
    lang: str
    channel: str
    count: int
    closest: list[str]
    first_seen: datetime
    last_seen: datetime


async def record(
    session: AsyncSession, question: str, lang: str, channel: str, closest: Sequence[str] = ()
) -> None:
    """Count one asking of `question` (normalised text) in the current transaction."""
    text = scrub(question)
    if not text:
        return
    now = utcnow()
    values = {
        "question": text,
        "lang": lang[:8],
        "channel": channel[:16],
        "count": 1,
        "closest": list(closest)[:5],
        "first_seen": now,
        "last_seen": now,
    }
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ContentGap).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["question", "lang", "channel"],
        set_={
            "count": ContentGap.count + 1,
            "last_seen": stmt.excluded.last_seen,
            "closest": stmt.excluded.closest,
        },
    )
    await session.execute(stmt)


async def top(session: AsyncSession, limit: int = 50) -> list[Gap]:
    """The most asked gaps first (then the most recent)."""
    rows = await session.scalars(
        select(ContentGap)
        .order_by(ContentGap.count.desc(), ContentGap.last_seen.desc())
        .limit(limit)
    )
    return [
        Gap(
            r.question, r.lang, r.channel, r.count, list(r.closest or []), r.first_seen, r.last_seen
        )
        for r in rows
    ]
