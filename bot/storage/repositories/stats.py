"""The overview's figures: counts per day, channel, language and area, by aggregate queries.

Messages are counted as they are handled (`count_turn`, one upsert per turn into `turn_counts`:
day in the province's time zone, channel, language, outcome, and a shard that spreads concurrent
turns over a few rows), so the overview never reads the inbox. Reports, feedback and
subscriptions are counted from their own tables by day (`created_at`, on an index: migration
0009) with GROUP BY, so 100,000 rows are summed by the database, not loaded. Nothing here names a
person: counts only.

Days are the province's (`timezone`): on PostgreSQL `timezone(zone, created_at)`; on SQLite,
which stores UTC wall times, the zone's UTC offset at the period's start is added
(`strftime(..., '+N minutes')`; exact for Asia/Ho_Chi_Minh, which has no summer time).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.dialect import counter_params, counter_upsert, dialect_insert, dialect_name
from bot.storage.models import Feedback, Report, Subscription, TurnCount, User

ANSWERED, NOT_ANSWERED, OTHER = "answered", "not_answered", "other"
OUTCOMES = (ANSWERED, NOT_ANSWERED, OTHER)
SHARDS = 8


def shard_of(sender: str) -> int:
    return zlib.crc32(sender.encode("utf-8", "surrogatepass")) % SHARDS


async def count_turn(
    session: AsyncSession,
    at: datetime,
    timezone: str,
    channel: str,
    lang: str,
    outcome: str,
    sender: str,
) -> None:
    """One handled message, in the turn's transaction (no commit)."""
    values = {
        "day": at.astimezone(ZoneInfo(timezone)).date().isoformat(),
        "channel": channel[:16],
        "lang": (lang or "?")[:8],
        "outcome": outcome,
        "shard": shard_of(sender),
        "n": 1,
    }
    stmt = counter_upsert(
        dialect_name(session),
        TurnCount.__table__,
        "n",
        ("day", "channel", "lang", "outcome", "shard"),
    )
    await session.execute(stmt, counter_params(values))


async def compact(session: AsyncSession, before: str, *, days: int = 31) -> int:
    """Fold the shards of days before `before` ("YYYY-MM-DD", past any turn still counting into
    them) into shard 0, at most `days` days a call: a year of counts reads as 48 rows a day, not
    384. The retention job runs it. How many rows went. Does not commit."""
    c = TurnCount
    old = (
        (
            await session.execute(
                select(c.day)
                .where(c.day < before, c.shard > 0)
                .group_by(c.day)
                .order_by(c.day)
                .limit(days)
            )
        )
        .scalars()
        .all()
    )
    gone = 0
    for day in old:
        sums = (
            await session.execute(
                select(c.channel, c.lang, c.outcome, func.sum(c.n))
                .where(c.day == day, c.shard > 0)
                .group_by(c.channel, c.lang, c.outcome)
            )
        ).all()
        insert = dialect_insert(session, TurnCount)
        for channel, lang, outcome, n in sums:
            stmt = insert.values(
                day=day, channel=channel, lang=lang, outcome=outcome, shard=0, n=int(n)
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["day", "channel", "lang", "outcome", "shard"],
                    set_={"n": TurnCount.n + stmt.excluded.n},
                )
            )
        done = await session.execute(delete(c).where(c.day == day, c.shard > 0))
        gone += done.rowcount or 0
    return gone


@dataclass(frozen=True)
class Period:
    """Days `start` to `end` inclusive, in the province's time zone."""

    start: date
    end: date
    timezone: str

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """[from, to) as UTC datetimes."""
        zone = ZoneInfo(self.timezone)
        begin = datetime(self.start.year, self.start.month, self.start.day, tzinfo=zone)
        stop = datetime(self.end.year, self.end.month, self.end.day, tzinfo=zone)
        return begin.astimezone(UTC), (stop + timedelta(days=1)).astimezone(UTC)


def _day(session: AsyncSession, column: Any, period: Period) -> Any:
    """The province's day of a stored UTC time, as 'YYYY-MM-DD'."""
    if dialect_name(session) == "postgresql":
        return func.to_char(func.timezone(period.timezone, column), "YYYY-MM-DD")
    begin, _ = period.bounds()
    offset = ZoneInfo(period.timezone).utcoffset(begin.replace(tzinfo=None)) or timedelta()
    minutes = int(offset.total_seconds() // 60)
    return func.strftime("%Y-%m-%d", column, f"{minutes:+d} minutes")


def _or_true(clause: ColumnElement[bool] | None) -> ColumnElement[bool]:
    return clause if clause is not None else true()


@dataclass
class Series:
    """Counts by day and by one other key (an outcome, a status): `rows[key][day] = n`."""

    days: list[str]
    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, key: str, day: str, n: int) -> None:
        self.rows.setdefault(key, {})
        self.rows[key][day] = self.rows[key].get(day, 0) + int(n)

    def total(self, key: str | None = None) -> int:
        keys = [key] if key is not None else list(self.rows)
        return sum(sum(self.rows.get(k, {}).values()) for k in keys)

    def per_day(self, key: str) -> list[int]:
        got = self.rows.get(key, {})
        return [got.get(d, 0) for d in self.days]


@dataclass
class Overview:
    period: Period
    messages: Series  # by outcome
    messages_by_channel: dict[str, int]
    messages_by_lang: dict[str, int]
    reports: Series  # by "reports"
    reports_by_area: dict[str, int]  # area code (as stored) -> count
    feedback: Series  # by status
    feedback_by_area: dict[str, int]  # area code ("" when not known) -> count
    subscribers: Series  # new subscriptions a day, by "new"
    subscribers_by_lang: dict[str, int]
    subscribers_by_area: dict[str, int]
    active_subscribers: int


async def _turns(session: AsyncSession, period: Period) -> tuple[Series, dict, dict]:
    """One scan of the period's counts (the primary key starts with the day), summed here by
    outcome per day, by channel and by language."""
    days = [d.isoformat() for d in period.days]
    series = Series(days)
    by_channel: dict[str, int] = defaultdict(int)
    by_lang: dict[str, int] = defaultdict(int)
    c = TurnCount
    rows = await session.execute(
        select(c.day, c.channel, c.lang, c.outcome, func.sum(c.n))
        .where(c.day >= days[0], c.day <= days[-1])
        .group_by(c.day, c.channel, c.lang, c.outcome)
    )
    for day, channel, lang, outcome, n in rows:
        series.add(outcome, day, n)
        by_channel[channel] += int(n)
        by_lang[lang] += int(n)
    return series, dict(by_channel), dict(by_lang)


async def overview(
    session: AsyncSession,
    period: Period,
    *,
    report_area: ColumnElement[bool] | None = None,
    feedback_area: ColumnElement[bool] | None = None,
    subscription_area: ColumnElement[bool] | None = None,
) -> Overview:
    """Every figure of the overview for `period`; the `*_area` clauses (a commune account's
    subtree) narrow reports, feedback and subscriptions to an area (messages have none)."""
    begin, stop = period.bounds()
    days = [d.isoformat() for d in period.days]
    messages, by_channel, by_lang = await _turns(session, period)

    reports = Series(days)
    rday = _day(session, Report.created_at, period)
    rwhere = [Report.created_at >= begin, Report.created_at < stop, _or_true(report_area)]
    for day, n in await session.execute(select(rday, func.count()).where(*rwhere).group_by(rday)):
        reports.add("reports", day, n)
    reports_by_area = {
        code: int(n)
        for code, n in await session.execute(
            select(Report.area_code, func.count()).where(*rwhere).group_by(Report.area_code)
        )
    }

    feedback = Series(days)
    fday = _day(session, Feedback.created_at, period)
    fwhere = [Feedback.created_at >= begin, Feedback.created_at < stop, _or_true(feedback_area)]
    for day, status, n in await session.execute(
        select(fday, Feedback.status, func.count()).where(*fwhere).group_by(fday, Feedback.status)
    ):
        feedback.add(status, day, n)
    feedback_by_area = {
        (code or ""): int(n)
        for code, n in await session.execute(
            select(Feedback.area_code, func.count()).where(*fwhere).group_by(Feedback.area_code)
        )
    }

    subscribers = Series(days)
    sday = _day(session, Subscription.created_at, period)
    swhere = [_or_true(subscription_area)]
    for day, n in await session.execute(
        select(sday, func.count())
        .where(Subscription.created_at >= begin, Subscription.created_at < stop, *swhere)
        .group_by(sday)
    ):
        subscribers.add("new", day, n)
    active = [Subscription.active.is_(True), *swhere]
    active_total = (
        await session.execute(select(func.count()).select_from(Subscription).where(*active))
    ).scalar_one()
    sub_lang = {
        (lang or "?"): int(n)
        for lang, n in await session.execute(
            select(User.locale, func.count())
            .select_from(Subscription)
            .join(User, User.id == Subscription.user_id)
            .where(*active)
            .group_by(User.locale)
        )
    }
    sub_area = {
        (code or ""): int(n)
        for code, n in await session.execute(
            select(Subscription.area_code, func.count())
            .where(*active)
            .group_by(Subscription.area_code)
        )
    }
    return Overview(
        period=period,
        messages=messages,
        messages_by_channel=by_channel,
        messages_by_lang=by_lang,
        reports=reports,
        reports_by_area=reports_by_area,
        feedback=feedback,
        feedback_by_area=feedback_by_area,
        subscribers=subscribers,
        subscribers_by_lang=sub_lang,
        subscribers_by_area=sub_area,
        active_subscribers=int(active_total),
    )


def roll_up(counts: dict[str, int], depth: int = 2) -> dict[str, int]:
    """Counts by dotted area code summed to codes of `depth` parts ("qng.ba_dong": a commune)."""
    out: dict[str, int] = defaultdict(int)
    for code, n in counts.items():
        parts = (code or "").split(".")
        out[".".join(parts[:depth]) if code else ""] += n
    return dict(out)


def top(counts: dict[str, int], n: int = 10) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def outcome_share(messages: Series) -> tuple[int, int]:
    """(answered, not answered) over the period."""
    return messages.total(ANSWERED), messages.total(NOT_ANSWERED)


def keys_sorted(series: Series, order: Sequence[str] = ()) -> list[str]:
    first = [k for k in order if k in series.rows]
    return first + sorted(k for k in series.rows if k not in first)
