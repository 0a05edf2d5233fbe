"""Content gaps (`content_gaps`): questions no content item covers, counted for the province.

`record` is called in the message's transaction when the bot had to say it has no information on
what was asked. It stores the question as the NLU normalised it, with phone-like digit runs and
long numbers (an id card, an account) replaced by `#`, the language and channel, and the closest
items offered; never the user's id. The same question again (same text, language, channel) adds
one to its count in one statement (`INSERT ... ON CONFLICT DO UPDATE`, on SQLite and PostgreSQL),
so two processes counting at once cannot fail a turn. `top` lists them for the dashboard.
Question texts never go to logs.

The dashboard's content gaps page reads them grouped (`groups`): wordings that name the same
thing are put together, cheaply and the same way every time (no model): each wording's *content
words* (folded, the NLU's generic words and phrases removed: `nlu/tables/generic.yml`) are
compared with each group's first (most asked) wording, and a wording joins the first group that
shares at least half of the smaller set of content words (a wording with no content word joins
only its exact twin). A group shows its
wordings, how often they were asked and when last, and never a user (there is none stored). An
editor marks a group "answered" by a content item or "out of scope" (`mark`): every wording of
it carries the mark, and the open list no longer shows them. The texts go with the retention
purge (bot/privacy/retention.py: `last_seen` before the cutoff).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.dialect import counter_params, counter_upsert, dialect_name
from bot.storage.models import ContentGap, utcnow
from nlu.grounding import Generic
from nlu.normalize import fold

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
    stmt = counter_upsert(
        dialect_name(session),
        ContentGap.__table__,
        "count",
        ("question", "lang", "channel"),
        ("last_seen", "closest"),
        ("first_seen",),
    )
    await session.execute(stmt, counter_params(values))


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


ANSWERED, OUT_OF_SCOPE = "answered", "out_of_scope"
RESOLUTIONS = (ANSWERED, OUT_OF_SCOPE)
MAX_ROWS = 5000  # wordings read for one grouping (the most recently asked first)
_WORD_RE = re.compile(r"[a-z0-9]+")


def content_words(text: str, generic: Generic | None = None) -> frozenset[str]:
    """The folded words of `text` that name what is asked (generic words removed)."""
    folded = _WORD_RE.findall(fold(text).lower())
    generic = generic or Generic.load()
    return frozenset(folded[i] for i in generic.content_positions(folded))


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Two wordings' content words name the same thing: they share at least half of the
    smaller set ("mua máy cày" and "máy cày lúa"; "tiền điện tháng này" and "tiền điện hộ
    nghèo")."""
    if not a or not b:
        return False
    return len(a & b) * 2 >= min(len(a), len(b))


@dataclass(frozen=True)
class Wording:
    id: int
    question: str
    lang: str
    count: int
    last_seen: datetime


@dataclass(frozen=True)
class GapGroup:
    """Similar wordings: the first is the most asked; `ids` are every wording's row."""

    key: int  # the first wording's id
    label: str
    wordings: tuple[Wording, ...]
    count: int
    first_seen: datetime
    last_seen: datetime
    langs: tuple[str, ...]
    closest: tuple[str, ...]  # the items the bot offered instead, most offered first
    resolution: str | None = None
    resolved_item: str | None = None
    resolved_at: datetime | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(w.id for w in self.wordings)

    @property
    def asked_since_mark(self) -> bool:
        return self.resolved_at is not None and self.last_seen > self.resolved_at


def group_rows(rows: Sequence[ContentGap], generic: Generic | None = None) -> list[GapGroup]:
    """Group rows (any order) by similar wording; the groups most asked first, then most recent.
    Rows with different marks never share a group."""
    generic = generic or Generic.load()
    ordered = sorted(rows, key=lambda r: (-r.count, -r.last_seen.timestamp(), r.id))
    leaders: list[tuple[frozenset[str], str, list[ContentGap]]] = []  # (words, mark, members)
    by_word: dict[tuple[str, str], list[int]] = {}  # (mark, word) -> leader indexes
    exact: dict[tuple[str, str], int] = {}  # (mark, folded text) -> leader index
    for r in ordered:
        mark = f"{r.resolution or ''}:{r.resolved_item or ''}"
        words = content_words(r.question, generic)
        folded = " ".join(_WORD_RE.findall(fold(r.question).lower()))
        found = exact.get((mark, folded))
        if found is None:
            candidates = sorted({i for w in words for i in by_word.get((mark, w), ())})
            found = next((i for i in candidates if similar(words, leaders[i][0])), None)
        if found is None:
            found = len(leaders)
            leaders.append((words, mark, []))
            for w in words:
                by_word.setdefault((mark, w), []).append(found)
        exact.setdefault((mark, folded), found)
        leaders[found][2].append(r)
    groups = []
    for _words, _mark, members in leaders:
        first = members[0]
        offered: dict[str, int] = {}
        for m in members:
            for item in m.closest or ():
                offered[item] = offered.get(item, 0) + m.count
        groups.append(
            GapGroup(
                key=first.id,
                label=first.question,
                wordings=tuple(
                    Wording(m.id, m.question, m.lang, m.count, m.last_seen) for m in members
                ),
                count=sum(m.count for m in members),
                first_seen=min(m.first_seen for m in members),
                last_seen=max(m.last_seen for m in members),
                langs=tuple(sorted({m.lang for m in members})),
                closest=tuple(sorted(offered, key=lambda i: (-offered[i], i))[:3]),
                resolution=first.resolution,
                resolved_item=first.resolved_item,
                resolved_at=max((m.resolved_at for m in members if m.resolved_at), default=None),
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.last_seen.timestamp(), g.key))
    return groups


async def groups(
    session: AsyncSession,
    *,
    resolved: bool = False,
    since: datetime | None = None,
    lang: str | None = None,
) -> list[GapGroup]:
    """The open (or, `resolved`, the marked) wordings asked since `since`, grouped."""
    query = select(ContentGap).where(
        ContentGap.resolution.is_not(None) if resolved else ContentGap.resolution.is_(None)
    )
    if since is not None:
        query = query.where(ContentGap.last_seen >= since)
    if lang:
        query = query.where(ContentGap.lang == lang)
    query = query.order_by(ContentGap.last_seen.desc()).limit(MAX_ROWS)
    rows = list((await session.execute(query)).scalars())
    return group_rows(rows)


async def count_open(session: AsyncSession) -> int:
    query = select(func.count()).select_from(ContentGap).where(ContentGap.resolution.is_(None))
    return (await session.execute(query)).scalar_one()


async def mark(
    session: AsyncSession, ids: Sequence[int], resolution: str | None, item_id: str | None = None
) -> int:
    """Mark the wordings `ids` (a group) answered by `item_id`, out of scope, or (None) open
    again; how many rows. The caller checks the item exists."""
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ValueError(f"resolution: one of {RESOLUTIONS}")
    values = {
        "resolution": resolution,
        "resolved_item": item_id if resolution == ANSWERED else None,
        "resolved_at": utcnow() if resolution is not None else None,
    }
    done = await session.execute(
        update(ContentGap)
        .where(ContentGap.id.in_(list(ids)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return done.rowcount or 0
