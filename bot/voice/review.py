"""A reviewer's decision on a draft, the same from the chat (`/duyet`, actions/translate.py)
and the dashboard (bot/staff/pages/translations.py): approve it (the only way a recording or
text reaches villagers; the older approved one of the same item and language becomes
`replaced`) or send it back with a comment. Either way its translator is told in the chat, in
their language (an outbox row in the caller's transaction; the dispatcher sends it), unless
they erased their data, blocked the bot, or reviewed it themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.i18n import LANGUAGES, N_
from bot.messages import Reply
from bot.storage.models import Recording, User
from bot.storage.repositories import outbox
from bot.storage.repositories import voice as repo
from bot.voice import publish
from bot.voice.phrases import BY_KEY

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.content import Content

APPROVED = N_("Bản tiếng {name} của bạn đã được duyệt: {title}. Cảm ơn bạn!")
SENT_BACK = N_(
    "Người duyệt đã trả lại bản tiếng {name} của bạn: {title}. Lời nhắn: {comment}. "
    "Gõ /dich để ghi lại."
)
PHRASE_TITLE = N_("Câu trong hội thoại")
MAX_COMMENT = 500
SOURCE = "voice"


def title_of(content: Content, kind: str, key: str, lang: str) -> tuple[str, str]:
    """(title, Vietnamese text) of an item or phrase (in Vietnamese: what reviewers read)."""
    if kind == "phrase":
        p = BY_KEY.get(key)
        return PHRASE_TITLE, p.shown(lang) if p else key
    item = content.by_id().get(key)
    if item is None:
        return key, ""
    return item.title_for("vi"), item.answer_for("vi")[0]


async def tell_translator(
    session: AsyncSession, catalogs, content: Content, rec: Recording, msgid: str, by: int | None
) -> bool:
    """Queue the message to the recording's translator; whether there was one to tell."""
    if rec.made_by is None or rec.made_by == by:
        return False
    user = await session.get(User, rec.made_by)
    if user is None or not user.reachable:
        return False
    t = catalogs.for_lang(user.locale or "vi")
    title, _v = title_of(content, rec.kind, rec.key, rec.lang)
    if rec.kind == "phrase":
        title = t._(title)
    text = t._(msgid).format(
        name=LANGUAGES.get(rec.lang, rec.lang), title=title, comment=rec.comment or ""
    )
    await outbox.add_replies(
        session,
        channel=user.channel,
        recipient=user.external_id,
        replies=[Reply(text=text)],
        user_id=user.id,
        source=SOURCE,
    )
    return True


async def approve(
    session: AsyncSession, catalogs, content: Content, rec: Recording, by: int | None, label: str
) -> bool:
    """Approve a draft; whether its translator will be told."""
    await repo.approve(session, rec, by, label, datetime.now(UTC))
    publish.forget()
    return await tell_translator(session, catalogs, content, rec, APPROVED, by)


async def send_back(
    session: AsyncSession,
    catalogs,
    content: Content,
    rec: Recording,
    by: int | None,
    label: str,
    comment: str,
) -> bool:
    repo.send_back(rec, by, label, comment[:MAX_COMMENT], datetime.now(UTC))
    return await tell_translator(session, catalogs, content, rec, SENT_BACK, by)
