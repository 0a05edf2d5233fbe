"""The one table of slash commands: what each runs, and which ones Telegram's menu shows.

A command (typed "/subscribe", or a button's payload) runs the action registered for its intent
(bot.core.registry), the same one typed text reaches through the NLU. Commands owned by a flow
("/consent yes", "/delete no") are declared by the flow itself. The menu descriptions are
Vietnamese only: Telegram shows one menu for every user.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # "/subscribe"
    intent: str  # the action it runs; the command's argument is in `Context.arg`
    description: str = ""  # for the Telegram menu
    menu: bool = False  # shown in the Telegram menu, in table order
    ends_flow: bool = True  # False: a button that may be pressed while a flow waits


COMMANDS = (
    Command("/start", "start", "Bắt đầu, chọn ngôn ngữ", menu=True),
    # Shown by their Vietnamese names (menus, help, Telegram's menu); the English ones work too.
    Command("/trogiup", "help", "Tôi giúp được gì", menu=True),
    Command("/help", "help"),
    Command("/menu", "help"),
    Command("/ngonngu", "set_language", "Đổi ngôn ngữ", menu=True),
    Command("/language", "set_language"),
    Command("/lang", "set_language", ends_flow=False),  # "/lang hre": the language buttons
    Command("/dangky", "subscribe", "Nhận thông báo, lớp tập huấn", menu=True),
    Command("/subscribe", "subscribe"),
    Command("/ngung", "unsubscribe", "Ngừng nhận thông báo", menu=True),
    Command("/stop", "unsubscribe"),
    Command("/unsubscribe", "unsubscribe"),
    Command("/phananh", "feedback", "Gửi phản ánh, kiến nghị", menu=True),
    Command("/baocao", "report", "Cán bộ xã gửi báo cáo", menu=True),
    Command("/baocaocuatoi", "my_reports", "Cán bộ xem, sửa báo cáo đã gửi"),
    # "/theodoi K7QF-9XPA": a feedback's status (the code typed alone works too).
    Command("/theodoi", "track_feedback", "Xem tình trạng phản ánh"),
    Command("/dulieu", "my_data", "Xem dữ liệu của bạn", menu=True),
    Command("/xoadulieu", "delete_data", "Xóa dữ liệu của bạn", menu=True),
    Command("/canbo", "human", "Gặp cán bộ", menu=True),
    Command("/human", "human"),
    # An officer joins with the invite code an admin made: "/macanbo K7QF-9XPA" (bot/officers.py).
    Command("/macanbo", "officer_join"),
    # Translators (bot/voice/): join with a language's invite code, record, review.
    Command("/madich", "translator_join"),
    Command("/dich", "translate", "Người dịch: ghi âm câu trả lời"),
    Command("/duyet", "review", "Người dịch: duyệt bản ghi"),
    Command("/answer", "answer", ends_flow=False),  # "/answer <item id>": a topic button
    # "/rsvp 12 yes|no": the buttons of a notice with RSVP (bot/notices, actions/notices.py).
    Command("/rsvp", "rsvp", ends_flow=False),
    Command("/topic", "topic_menu", ends_flow=False),  # "/topic ask_policy": the main menu
)
BY_NAME = {c.name: c for c in COMMANDS}


def telegram_menu() -> list[tuple[str, str]]:
    """(command without "/", description) for Telegram's setMyCommands, in table order."""
    return [(c.name.removeprefix("/"), c.description) for c in COMMANDS if c.menu]
