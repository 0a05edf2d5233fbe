"""The staff side of a handoff: a reply and the hand back, each reaching the villager's chat.

Like bot/feedback/notify.py, a message to the villager is an outbox row written in the staff
action's own transaction (with the stored reply and the caller's audit entry); the running bot's
dispatcher sends it in the villager's channel and language. A reply the platform would not
deliver (outside Zalo's window, a user who blocked the bot, the console) is refused and nothing
is stored or queued: the page says why (`Refused`). Staff texts are written in Vietnamese; the
words around them are in the villager's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.handoff.chat import COMMAND
from bot.handoff.windows import Window, reply_window
from bot.messages import Button, Reply
from bot.storage.models import Handoff, User, utcnow
from bot.storage.repositories import handoff as repo
from bot.storage.repositories import outbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.services import Services

SOURCE = repo.SOURCE


class Refused(Exception):
    """Not done; `message` (Vietnamese) says why, for the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Done:
    handoff_id: int
    outbox_id: int | None  # None: nothing sent (hand back outside the window)
    window: Window


async def _load(session: AsyncSession, handoff_id: int) -> tuple[Handoff, User]:
    h = await session.get(Handoff, handoff_id)
    if h is None:
        raise Refused("Không có cuộc trò chuyện này (có thể người dân đã xóa dữ liệu).")
    u = await session.get(User, h.user_id)
    if u is None:
        raise Refused("Người dân đã xóa dữ liệu: không gửi được.")
    return h, u


async def window_for(
    session: AsyncSession, services: Services, h: Handoff, u: User, now: datetime | None = None
) -> Window:
    sent = 0
    if h.channel == "zalo" and u.last_seen_at is not None:
        sent = await repo.sent_since(session, u.channel, u.external_id, u.last_seen_at)
    return reply_window(
        services.settings,
        h.channel,
        u.last_seen_at,
        now or utcnow(),
        reachable=u.reachable,
        sent_since=sent,
    )


async def _queue(session: AsyncSession, u: User, reply: Reply) -> int:
    queued = await outbox.add_replies(
        session,
        channel=u.channel,
        recipient=u.external_id,
        replies=[reply],
        user_id=u.id,
        source=SOURCE,
    )
    return queued.ids[0]


async def reply(
    session: AsyncSession,
    services: Services,
    handoff_id: int,
    text: str,
    *,
    staff_id: int | None,
    staff_name: str | None,
) -> Done:
    """Send a staff reply to the villager and store it; `Refused` when it cannot be."""
    text = "\n".join(line.rstrip() for line in (text or "").strip().splitlines()).strip()
    limit = services.settings.handoff.max_reply_chars
    if not text:
        raise Refused("Tin trả lời trống: xin gõ nội dung.")
    if len(text) > limit:
        raise Refused(f"Tin trả lời dài quá ({len(text)} ký tự): tối đa {limit}.")
    h, u = await _load(session, handoff_id)
    if h.status != repo.OPEN:
        raise Refused("Cuộc trò chuyện đã kết thúc: không gửi thêm được.")
    window = await window_for(session, services, h, u)
    if not window.deliverable:
        raise Refused(window.note)
    t = services.catalogs.for_lang(u.locale or h.lang or "vi")
    first = h.answered_at is None
    lead = t._("Một cán bộ đã trả lời bạn:") if first else t._("Cán bộ trả lời:")
    flow = (u.state or {}).get("flow")
    buttons = [Button(t._("Kết thúc trò chuyện với cán bộ"), f"{COMMAND} end")]
    if not (isinstance(flow, dict) and flow.get("name") == "handoff"):
        # The villager moved on to something else: a way back into the conversation.
        buttons.insert(0, Button(t._("Nhắn lại cho cán bộ"), "/canbo"))
    row = await _queue(session, u, Reply(text=f"{lead}\n{text}", buttons=tuple(buttons)))
    await repo.add_message(
        session,
        h,
        repo.STAFF,
        text,
        staff_id=staff_id,
        staff_name=staff_name,
        outbox_id=row,
    )
    return Done(h.id, row, window)


async def hand_back(session: AsyncSession, services: Services, handoff_id: int) -> Done:
    """Close the handoff and tell the villager the bot answers again (when the platform still
    lets us; otherwise they are told at their next message)."""
    h, u = await _load(session, handoff_id)
    if h.status != repo.OPEN:
        raise Refused("Cuộc trò chuyện đã kết thúc rồi.")
    window = await window_for(session, services, h, u)
    row = None
    if window.deliverable:
        t = services.catalogs.for_lang(u.locale or h.lang or "vi")
        text = "\n".join(
            [
                t._("Cán bộ đã kết thúc trò chuyện. Từ giờ Làng Số (trợ lý tự động) trả lời bạn."),
                t._("Cần gặp lại cán bộ, gõ /canbo."),
            ]
        )
        row = await _queue(session, u, Reply(text=text))
    repo.close(h, "staff" if row is not None else "staff_late")
    return Done(h.id, row, window)
