"""Citizens' feedback and its staff-side events: the queries the chat (actions/feedback.py), the
CLI (bot/reports/cli.py), `/dulieu` / `/xoadulieu` and (later) the dashboard share. Functions
take a session and do not commit (`add_feedback` flushes, in a savepoint, to learn whether its
tracking code was free).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Feedback, FeedbackEvent

SUBMITTED = "submitted"
STATUSES = ("received", "in_progress", "resolved", "rejected")  # what staff may set
CODE_TRIES = 8


class NoFreeCode(RuntimeError):
    pass


async def add_feedback(
    session: AsyncSession, new_code: Callable[[], str], **values: Any
) -> Feedback:
    """A new feedback with a fresh tracking code from `new_code` (another one is drawn when the
    code is taken, in the database: two processes cannot both get one)."""
    for _ in range(CODE_TRIES):
        code = new_code()
        if await by_code(session, code) is not None:
            continue
        now = datetime.now(UTC)
        fb = Feedback(code=code, status=SUBMITTED, created_at=now, updated_at=now, **values)
        try:
            async with session.begin_nested():
                session.add(fb)
                await session.flush()
        except IntegrityError:
            continue
        return fb
    raise NoFreeCode(f"no free tracking code after {CODE_TRIES} tries")


async def by_code(session: AsyncSession, code: str) -> Feedback | None:
    rows = await session.execute(select(Feedback).where(Feedback.code == code))
    return rows.scalar_one_or_none()


async def events_of(session: AsyncSession, feedback_id: int) -> list[FeedbackEvent]:
    rows = await session.execute(
        select(FeedbackEvent)
        .where(FeedbackEvent.feedback_id == feedback_id)
        .order_by(FeedbackEvent.id)
    )
    return list(rows.scalars())


def set_status(
    session: AsyncSession,
    fb: Feedback,
    status: str,
    *,
    reply: str | None = None,
    reason: str | None = None,
    actor: str = "cli",
) -> FeedbackEvent:
    if status not in STATUSES:
        raise ValueError(f"status {status!r}: one of {', '.join(STATUSES)}")
    if status == "rejected" and not (reason or "").strip():
        raise ValueError("a rejection needs a reason (--reason)")
    now = datetime.now(UTC)
    event = FeedbackEvent(
        feedback_id=fb.id, status=status, reply=reply, reason=reason, actor=actor, at=now
    )
    session.add(event)
    fb.status = status
    fb.updated_at = now
    return event


async def for_user(session: AsyncSession, user_id: int) -> list[Feedback]:
    rows = await session.execute(
        select(Feedback).where(Feedback.user_id == user_id).order_by(Feedback.id)
    )
    return list(rows.scalars())


async def anonymise_user(session: AsyncSession, user_id: int) -> int:
    """The user's feedback stays for the record without anything that leads back to them: no
    user, no contact phone, no photo, no location. How many."""
    return (
        await session.execute(
            update(Feedback)
            .where(Feedback.user_id == user_id)
            .values(user_id=None, phone=None, photo_ref=None, latitude=None, longitude=None)
            .execution_options(synchronize_session=False)
        )
    ).rowcount or 0


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


async def exported(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    """A citizen's feedback, with its events, for `/dulieu`."""
    out = []
    for fb in await for_user(session, user_id):
        out.append(
            {
                "code": fb.code,
                "category": fb.category,
                "description": fb.description,
                "photo_ref": fb.photo_ref,
                "latitude": fb.latitude,
                "longitude": fb.longitude,
                "phone": fb.phone,
                "channel": fb.channel,
                "status": fb.status,
                "created_at": _iso(fb.created_at),
                "events": [
                    {"status": e.status, "reply": e.reply, "reason": e.reason, "at": _iso(e.at)}
                    for e in await events_of(session, fb.id)
                ],
            }
        )
    return out
