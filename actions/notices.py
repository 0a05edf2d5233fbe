"""The answer to a notice with RSVP: "Tôi sẽ tham gia" / "Không tham gia".

The notice's buttons carry `/rsvp <notice id> yes|no` (bot/notices/compose.py); on Zalo, which
has no buttons, they are numbered options and a typed "1" or "2" picks one (bot.core.dialogue).
Only someone the notice was sent to can answer; the latest answer counts (a "no" after a "yes"
takes them off the reminder and the attendee list).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.context import Context
from bot.core.registry import action
from bot.storage.repositories import notices as repo


@action("rsvp")
async def rsvp(ctx: Context) -> None:
    parts = ctx.arg.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] not in (repo.YES, repo.NO):
        ctx.say(ctx._("Tôi không hiểu câu trả lời này. Xin bấm nút dưới thông báo."))
        return
    notice_id, yes = int(parts[0]), parts[1] == repo.YES
    notice = await repo.get(ctx.session, notice_id)
    if (
        notice is None
        or not notice.rsvp
        or ctx.user is None
        or not await repo.was_sent(ctx.session, ctx.user.id, notice_id)
    ):
        ctx.say(ctx._("Thông báo này không hỏi bạn có tham gia hay không."))
        return
    if notice.status == repo.CANCELLED:
        ctx.say(ctx._("Thông báo này đã được hủy, không cần trả lời."))
        return
    if notice.event_at is not None and notice.event_at <= datetime.now(UTC):
        ctx.say(ctx._("Buổi này đã diễn ra rồi, không nhận trả lời nữa."))
        return
    await repo.answer(ctx.session, notice_id, ctx.user.id, ctx.msg.channel, yes)
    title = notice.title.get(ctx.lang) or notice.title.get("vi", "")
    if yes:
        text = ctx._("Cảm ơn bạn! Đã ghi bạn sẽ tham gia: {title}.").format(title=title)
        if notice.event_at is not None:
            text += " " + ctx._("Chúng tôi sẽ nhắc bạn trước ngày diễn ra.")
    else:
        text = ctx._("Đã ghi bạn không tham gia: {title}. Nếu đổi ý, bấm lại nút.").format(
            title=title
        )
    ctx.say(text)
