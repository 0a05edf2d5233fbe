"""Telling a citizen that staff changed their feedback's status or replied.

`status_notice` writes the message as an outbox row addressed to the citizen on the channel they
used, in their language, in the caller's transaction: the CLI (bot/reports/cli.py, and later the
dashboard) commits it with the status change, and the running bot's outbox dispatcher sends it
(bot/outbox/dispatcher.py: it sends every due row, not only a turn's). A citizen who erased
their data, or who cannot be reached (blocked the bot), is not written to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.feedback.tracking import STATUS_LABELS, show
from bot.messages import Reply
from bot.storage.models import Feedback, FeedbackEvent, User
from bot.storage.repositories import outbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.i18n import Translator

SOURCE = "feedback"


def status_text(_, fb: Feedback, event: FeedbackEvent) -> str:
    lines = [
        _("Phản ánh {code} của bạn: {status}.").format(
            code=show(fb.code), status=_(STATUS_LABELS.get(event.status, event.status))
        )
    ]
    if event.reason:
        lines.append(_("Lý do: {reason}").format(reason=event.reason))
    if event.reply:
        lines.append(_("Cán bộ trả lời: {reply}").format(reply=event.reply))
    lines.append(_("Gõ /theodoi {code} để xem lại.").format(code=show(fb.code)))
    return "\n".join(lines)


async def status_notice(
    session: AsyncSession, translators, fb: Feedback, event: FeedbackEvent
) -> int | None:
    """Queue the notice of `event` to the feedback's author; the outbox row id, or None when
    there is nobody to tell. `translators(lang) -> Translator`."""
    if fb.user_id is None:
        return None
    user = await session.get(User, fb.user_id)
    if user is None or not user.reachable:
        return None
    t: Translator = translators(user.locale or fb.lang or "vi")
    queued = await outbox.add_replies(
        session,
        channel=user.channel,
        recipient=user.external_id,
        replies=[Reply(text=status_text(t._, fb, event))],
        user_id=user.id,
        source=SOURCE,
    )
    return queued.ids[0] if queued.ids else None
