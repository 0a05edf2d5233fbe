"""Whether a staff reply can still reach a villager, per channel.

- Zalo OA: a consultation message (the OA's reply) reaches a user only within a window after
  their last message to the OA, and only so many of them (`outbox.zalo_window_hours`, 48, and
  `outbox.zalo_window_messages`, 8: the dispatcher's own rule, bot/outbox/window.py); past it
  the OA would need a quota-limited proactive message, which a handoff reply does not spend.
- Telegram: a bot may write to a user who started it at any time, unless they blocked it.
- The web chat has no push: a reply waits until the villager's page next asks for it
  (bot/handoff/web.py), which it does while it is open and when it is opened again.
- The console is a terminal on the bot's machine: nothing reaches it from outside a turn.

A user the platform reported gone (blocked, unfollowed: `users.reachable` false) is never written
to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings


@dataclass(frozen=True)
class Window:
    deliverable: bool
    until: datetime | None = None  # when the window closes (Zalo), None: no limit
    note: str = ""  # for the staff page (Vietnamese), when it is not deliverable or limited


def reply_window(
    settings: Settings,
    channel: str,
    last_seen_at: datetime | None,
    now: datetime,
    *,
    reachable: bool = True,
    sent_since: int = 0,
) -> Window:
    """`sent_since`: the messages queued or sent to the user since their last one (Zalo's
    count)."""
    if not reachable:
        return Window(False, note="Người dân đã chặn hoặc bỏ theo dõi: không gửi được.")
    if channel == "console":
        return Window(False, note="Trò chuyện trên cửa sổ dòng lệnh: không gửi được từ trang này.")
    if channel == "zalo":
        if last_seen_at is None:
            return Window(False, note="Chưa có tin nhắn nào của người dân: Zalo không cho gửi.")
        hours = settings.outbox.zalo_window_hours
        most = settings.outbox.zalo_window_messages
        until = last_seen_at + timedelta(hours=hours)
        if sent_since >= most:
            return Window(
                False,
                until=until,
                note=(
                    f"Zalo OA chỉ cho gửi {most} tin sau mỗi tin nhắn của người dân: đã đủ. "
                    "Chờ người dân nhắn lại."
                ),
            )
        if now > until:
            return Window(
                False,
                until=until,
                note=(
                    f"Đã quá {hours:g} giờ kể từ tin nhắn cuối của người dân: Zalo OA không "
                    "chuyển tin trả lời nữa. Chờ người dân nhắn lại."
                ),
            )
        return Window(True, until=until)
    if channel == "web":
        return Window(True, note="Trò chuyện trên web: tin hiện ra khi người dân mở trang chat.")
    return Window(True)
