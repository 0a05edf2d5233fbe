"""The UI phrases a villager meets in the first minute, which translators record or write.

Each has a stable key (what a recording row names), the catalog msgid it stands for (the
Vietnamese text in the code), and whether a recording of it is played (`voice`): sentences are;
the main menu's button labels take a written text only (a voice message per button would be
six messages). A phrase with `{name}` is shown to the translator with the language's own name
filled in, and their text is kept as they wrote it (the catalog export escapes its braces).

The order is the order a villager meets them: `/dich` offers phrases first, then content items
most asked first (bot/voice/coverage.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import LANGUAGES


@dataclass(frozen=True)
class Phrase:
    key: str
    msgid: str
    voice: bool = True

    def shown(self, lang: str) -> str:
        """The Vietnamese text as the translator sees it."""
        return self.msgid.replace("{name}", LANGUAGES.get(lang, lang))


PHRASES: tuple[Phrase, ...] = (
    Phrase(
        "welcome",
        "Chào bạn! Đây là Làng Số, trợ lý của tỉnh Quảng Ngãi về Chương trình MTQG 1719 "
        "cho đồng bào dân tộc thiểu số và miền núi.",
    ),
    Phrase("language_chosen", "Đã chọn ngôn ngữ: {name}."),
    Phrase("what_to_ask", "Bạn muốn hỏi gì?"),
    Phrase("greeting", "Chào bạn! Bạn cần hỏi gì? Bạn có thể gõ câu hỏi hoặc chọn:"),
    Phrase("not_understood", "Xin lỗi, tôi chưa hiểu ý bạn."),
    Phrase("menu_policy", "Hỏi chính sách hỗ trợ", voice=False),
    Phrase("menu_product", "Sản phẩm địa phương", voice=False),
    Phrase("menu_notices", "Nhận thông báo", voice=False),
    Phrase("menu_feedback", "Gửi phản ánh", voice=False),
    Phrase("menu_person", "Gặp cán bộ", voice=False),
    Phrase("menu_language", "Đổi ngôn ngữ", voice=False),
)
BY_KEY = {p.key: p for p in PHRASES}
BY_MSGID = {p.msgid: p for p in PHRASES}
