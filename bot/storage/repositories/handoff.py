"""Handoffs (`handoffs`, `handoff_messages`): a villager's conversation with a person.

The chat side (bot/handoff/) opens one when a villager asks for a person and stores what they
type while it is open; the dashboard's inbox (bot/staff/pages/handoff.py) lists the open ones,
newest message first, with their last messages, and stores staff replies next to the outbox row
that carries each one to the chat. Message texts are personal data: `exported` gives them to
`/dulieu`, `erase_user` deletes them with the person, `purge` ages them out past the retention.
Functions take a session and do not commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Handoff, HandoffMessage, OutboxEntry, Subscription, User, utcnow

OPEN, CLOSED = "open", "closed"
VILLAGER, STAFF = "villager", "staff"
SOURCE = "handoff"  # the outbox rows of staff replies and hand backs
MAX_TEXT = 4000  # a villager's message as stored (the pipeline cuts at 2000 already)


@dataclass(frozen=True)
class Message:
    id: int
    sender: str
    text: str
    at: datetime
    staff_name: str | None = None
    outbox_id: int | None = None
    delivery: str | None = None  # the outbox row's status for a staff reply; None: not sent
    voice: bool = False  # a villager's voice message (`voice_ref` gives the stored file)


@dataclass(frozen=True)
class Conversation:
    """A handoff as the dashboard shows it: no platform id, only what staff need."""

    id: int
    channel: str
    lang: str
    area_code: str | None
    status: str
    opened_at: datetime
    last_message_at: datetime
    last_seen_at: datetime | None  # the villager's last message to the bot (reply windows)
    answered_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    in_flow: bool  # the villager's chat is still in the handoff (not moved on to another task)
    reachable: bool
    messages: tuple[Message, ...] = ()


async def open_for(session: AsyncSession, user_id: int) -> Handoff | None:
    """The user's open handoff, if any."""
    return (
        await session.execute(
            select(Handoff)
            .where(Handoff.user_id == user_id, Handoff.status == OPEN)
            .order_by(Handoff.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def voice_ref(session: AsyncSession, handoff_id: int, message_id: int) -> str | None:
    """The stored voice message of message `message_id` of handoff `handoff_id`, if any."""
    return (
        await session.execute(
            select(HandoffMessage.media_ref).where(
                HandoffMessage.id == message_id, HandoffMessage.handoff_id == handoff_id
            )
        )
    ).scalar_one_or_none()


async def get(session: AsyncSession, handoff_id: int) -> Handoff | None:
    return await session.get(Handoff, handoff_id)


async def start(
    session: AsyncSession, user: User, lang: str, area_code: str | None = None
) -> tuple[Handoff, bool]:
    """The user's open handoff, or a new one; (handoff, created)."""
    found = await open_for(session, user.id)
    if found is not None:
        return found, False
    now = utcnow()
    h = Handoff(
        user_id=user.id,
        channel=user.channel,
        lang=lang[:8],
        area_code=area_code,
        status=OPEN,
        opened_at=now,
        last_message_at=now,
    )
    session.add(h)
    await session.flush()
    return h, True


async def known_area(session: AsyncSession, user_id: int) -> str | None:
    """The area a villager gave with their notice subscription, if any."""
    return (
        await session.execute(
            select(Subscription.area_code)
            .where(Subscription.user_id == user_id, Subscription.area_code.is_not(None))
            .order_by(Subscription.active.desc(), Subscription.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def add_message(
    session: AsyncSession,
    handoff: Handoff,
    sender: str,
    text: str,
    *,
    staff_id: int | None = None,
    staff_name: str | None = None,
    outbox_id: int | None = None,
    media_ref: str | None = None,
) -> HandoffMessage:
    now = utcnow()
    m = HandoffMessage(
        handoff_id=handoff.id,
        sender=sender,
        text=text[:MAX_TEXT],
        staff_id=staff_id,
        staff_name=staff_name,
        outbox_id=outbox_id,
        at=now,
        media_ref=media_ref,
    )
    session.add(m)
    handoff.last_message_at = now
    if sender == VILLAGER:
        handoff.last_villager_at = now
    elif handoff.answered_at is None:
        handoff.answered_at = now
    await session.flush()
    return m


def close(handoff: Handoff, by: str) -> None:
    handoff.status = CLOSED
    handoff.closed_at = utcnow()
    handoff.closed_by = by[:16]


async def messages(
    session: AsyncSession, handoff_ids: Sequence[int], last: int | None = None
) -> dict[int, list[Message]]:
    """Each handoff's messages, oldest first (only the `last` ones of each when given), with
    the delivery state of staff replies."""
    if not handoff_ids:
        return {}
    m = HandoffMessage
    query = select(
        m.id,
        m.handoff_id,
        m.sender,
        m.text,
        m.at,
        m.staff_name,
        m.outbox_id,
        m.media_ref,
        OutboxEntry.status,
    ).outerjoin(OutboxEntry, OutboxEntry.id == m.outbox_id)
    if last is not None:
        # The `last` newest of each conversation: a window function, one query for the page.
        rank = func.row_number().over(partition_by=m.handoff_id, order_by=m.id.desc()).label("rank")
        inner = select(m.id.label("mid"), rank).where(m.handoff_id.in_(list(handoff_ids)))
        inner = inner.subquery()
        query = query.join(inner, and_(inner.c.mid == m.id, inner.c.rank <= last))
    else:
        query = query.where(m.handoff_id.in_(list(handoff_ids)))
    rows = (await session.execute(query.order_by(m.handoff_id, m.id))).all()
    out: dict[int, list[Message]] = {i: [] for i in handoff_ids}
    for r in rows:
        delivery = None
        if r.sender == STAFF:
            delivery = r.status if r.outbox_id is not None else "undelivered"
            if r.outbox_id is not None and r.status is None:
                delivery = "sent"  # the row was sent and later deleted by the retention job
        out[r.handoff_id].append(
            Message(
                r.id,
                r.sender,
                r.text,
                r.at,
                r.staff_name,
                r.outbox_id,
                delivery,
                voice=r.media_ref is not None,
            )
        )
    return out


def _conversation(h: Handoff, u: User | None, msgs: Sequence[Message]) -> Conversation:
    flow = (u.state or {}).get("flow") if u is not None else None
    in_flow = isinstance(flow, dict) and flow.get("name") == "handoff"
    return Conversation(
        id=h.id,
        channel=h.channel,
        lang=h.lang,
        area_code=h.area_code,
        status=h.status,
        opened_at=h.opened_at,
        last_message_at=h.last_message_at,
        last_seen_at=u.last_seen_at if u is not None else None,
        answered_at=h.answered_at,
        closed_at=h.closed_at,
        closed_by=h.closed_by,
        in_flow=in_flow and h.status == OPEN,
        reachable=bool(u is not None and u.reachable),
        messages=tuple(msgs),
    )


async def inbox(
    session: AsyncSession,
    *,
    status: str = OPEN,
    area_clause: ColumnElement[bool] | bool | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 20,
    last_messages: int = 3,
) -> list[Conversation]:
    """Conversations of `status`, the most recent message first, `limit` a page (keyset paging
    from `before` = (last_message_at, id) of the previous page's last one), with the last
    `last_messages` messages of each. `area_clause` (a commune account's subtree, on
    `Handoff.area_code`) keeps only its area's."""
    where: list = [Handoff.status == status]
    if area_clause is not None and area_clause is not True:
        where.append(area_clause)
    if before is not None:
        at, hid = before
        where.append(
            or_(
                Handoff.last_message_at < at,
                and_(Handoff.last_message_at == at, Handoff.id < hid),
            )
        )
    rows = (
        await session.execute(
            select(Handoff, User)
            .outerjoin(User, User.id == Handoff.user_id)
            .where(*where)
            .order_by(Handoff.last_message_at.desc(), Handoff.id.desc())
            .limit(limit)
        )
    ).all()
    msgs = await messages(session, [h.id for h, _ in rows], last=last_messages)
    return [_conversation(h, u, msgs[h.id]) for h, u in rows]


async def count_open(session: AsyncSession, area_clause: ColumnElement[bool] | None = None) -> int:
    query = select(func.count()).select_from(Handoff).where(Handoff.status == OPEN)
    if area_clause is not None:
        query = query.where(area_clause)
    return (await session.execute(query)).scalar_one()


async def count_waiting(
    session: AsyncSession, area_clause: ColumnElement[bool] | bool | None = None
) -> int:
    """Open conversations waiting for a person: none has answered yet, or the villager wrote
    after the last reply."""
    query = (
        select(func.count())
        .select_from(Handoff)
        .where(
            Handoff.status == OPEN,
            or_(Handoff.answered_at.is_(None), Handoff.last_villager_at >= Handoff.last_message_at),
        )
    )
    if area_clause is not None and area_clause is not True:
        query = query.where(area_clause)
    return (await session.execute(query)).scalar_one()


async def conversation(session: AsyncSession, handoff_id: int) -> Conversation | None:
    """One conversation with all its messages."""
    h = await session.get(Handoff, handoff_id)
    if h is None:
        return None
    u = await session.get(User, h.user_id)
    msgs = await messages(session, [h.id])
    return _conversation(h, u, msgs[h.id])


async def sent_since(session: AsyncSession, channel: str, recipient: str, since: datetime) -> int:
    """Messages written to the recipient since `since` that were or will be sent (Zalo OA's
    count of replies in its window)."""
    query = select(func.count()).where(
        OutboxEntry.channel == channel,
        OutboxEntry.recipient == recipient,
        OutboxEntry.created_at >= since,
        OutboxEntry.status.in_(("queued", "sending", "sent", "delivered", "read")),
    )
    return (await session.execute(query)).scalar_one()


async def take_web_replies(session: AsyncSession, recipient: str, limit: int = 20) -> list[dict]:
    """The staff messages queued for a web chat user (the web chat has no push: its page asks),
    marked sent as they are handed over; each one to one caller only (the UPDATE re-checks the
    state, so two tabs asking at once do not both get it). Commits."""
    rows = (
        await session.execute(
            select(OutboxEntry.id, OutboxEntry.payload)
            .where(
                OutboxEntry.channel == "web",
                OutboxEntry.recipient == recipient,
                OutboxEntry.status == "queued",
                OutboxEntry.source == SOURCE,
            )
            .order_by(OutboxEntry.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return []
    taken = await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id.in_([r.id for r in rows]), OutboxEntry.status == "queued")
        .values(status="sent", payload=None, sent_at=utcnow(), lease_until=None)
        .returning(OutboxEntry.id)
        .execution_options(synchronize_session=False)
    )
    mine = set(taken.scalars())
    await session.commit()
    return [r.payload for r in rows if r.id in mine and r.payload]


async def exported(session: AsyncSession, user_id: int) -> list[dict]:
    """The user's handoffs and their messages, for `/dulieu`."""
    hs = (
        (
            await session.execute(
                select(Handoff).where(Handoff.user_id == user_id).order_by(Handoff.id)
            )
        )
        .scalars()
        .all()
    )
    msgs = await messages(session, [h.id for h in hs])

    def when(v: datetime | None) -> str | None:
        return v.astimezone(UTC).isoformat(timespec="seconds") if v is not None else None

    return [
        {
            "id": h.id,
            "status": h.status,
            "opened_at": when(h.opened_at),
            "closed_at": when(h.closed_at),
            "messages": [
                {"from": m.sender, "at": when(m.at), "text": m.text, "voice": m.voice}
                for m in msgs[h.id]
            ],
        }
        for h in hs
    ]


async def erase_user(session: AsyncSession, user_id: int) -> int:
    """Delete the user's handoffs and their messages (also ON DELETE CASCADE; explicit for SQLite
    files without foreign keys enforced), and the staff replies not sent to them yet (a person
    who erased their data is not written to about it); how many handoffs."""
    await session.execute(
        delete(OutboxEntry).where(
            OutboxEntry.user_id == user_id,
            OutboxEntry.source == SOURCE,
            OutboxEntry.status == "queued",
        )
    )
    ids = select(Handoff.id).where(Handoff.user_id == user_id).scalar_subquery()
    await session.execute(delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(ids)))
    gone = await session.execute(delete(Handoff).where(Handoff.user_id == user_id))
    return gone.rowcount or 0


async def purge(session: AsyncSession, cutoff: datetime, *, dry_run: bool = False) -> int:
    """The retention: messages written before `cutoff`, and handoffs with nothing newer (closed
    before it, or with no message since); how many messages (and handoffs) went."""
    old_messages = HandoffMessage.at < cutoff
    stale = Handoff.last_message_at < cutoff  # every message of it is older
    if dry_run:
        n = (
            await session.execute(
                select(func.count()).select_from(HandoffMessage).where(old_messages)
            )
        ).scalar_one()
        return n
    gone = await session.execute(delete(HandoffMessage).where(old_messages))
    ids = select(Handoff.id).where(stale).scalar_subquery()
    await session.execute(delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(ids)))
    await session.execute(delete(Handoff).where(stale))
    return gone.rowcount or 0
