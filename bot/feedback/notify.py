"""Telling a citizen that staff changed their feedback's status or replied, and an officer that
staff sent their report back.

`status_notice` writes the message as an outbox row addressed to the citizen on the channel they
used, in their language, in the caller's transaction: the CLI (bot/reports/cli.py) and the
dashboard (bot/staff/pages/feedback.py) commit it with the status change, and the running bot's
outbox dispatcher sends it (bot/outbox/dispatcher.py: it sends every due row, not only a
turn's). A reply that leaves the status as it was (`changed=False`) is told as a reply. A
citizen who erased their data, or who cannot be reached (blocked the bot), is not written to.

`sent_back_notice` does the same for an officer whose report staff sent back
(bot/staff/pages/reports.py): the comment, and a button that opens the correction
(`/baocaocuatoi sua ID`, which a sent-back report accepts whatever its age).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.feedback.tracking import STATUS_LABELS, show
from bot.messages import Button, Reply
from bot.storage.models import Feedback, FeedbackEvent, Report, User
from bot.storage.repositories import outbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.i18n import Translator

SOURCE = "feedback"
REPORT_SOURCE = "report"


def status_text(_, fb: Feedback, event: FeedbackEvent, changed: bool = True) -> str:
    status = _(STATUS_LABELS.get(event.status, event.status))
    if changed or not event.reply:
        lead = _("Phản ánh {code} của bạn: {status}.")
    else:
        lead = _("Cán bộ đã trả lời phản ánh {code} của bạn (đang ở bước: {status}).")
    lines = [lead.format(code=show(fb.code), status=status)]
    if event.reason:
        lines.append(_("Lý do: {reason}").format(reason=event.reason))
    if event.reply:
        lines.append(_("Cán bộ trả lời: {reply}").format(reply=event.reply))
    lines.append(_("Gõ /theodoi {code} để xem lại.").format(code=show(fb.code)))
    return "\n".join(lines)


async def _queue(session: AsyncSession, user_id: int | None, reply, source: str) -> int | None:
    """Queue `reply(user)` (a Reply) to a reachable user; the outbox row id or None."""
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    if user is None or not user.reachable:
        return None
    queued = await outbox.add_replies(
        session,
        channel=user.channel,
        recipient=user.external_id,
        replies=[reply(user)],
        user_id=user.id,
        source=source,
    )
    return queued.ids[0] if queued.ids else None


async def status_notice(
    session: AsyncSession,
    translators,
    fb: Feedback,
    event: FeedbackEvent,
    *,
    changed: bool = True,
) -> int | None:
    """Queue the notice of `event` to the feedback's author; the outbox row id, or None when
    there is nobody to tell. `translators(lang) -> Translator`; `changed` False: the status
    stayed, the event carries a reply."""

    def reply(user: User) -> Reply:
        t: Translator = translators(user.locale or fb.lang or "vi")
        return Reply(text=status_text(t._, fb, event, changed))

    return await _queue(session, fb.user_id, reply, SOURCE)


def sent_back_text(_, report: Report, comment: str) -> str:
    return "\n".join(
        [
            _("Báo cáo #{id} (kỳ {period}) được gửi lại để bạn sửa.").format(
                id=report.id, period=report.period
            ),
            _("Ý kiến của cán bộ: {comment}").format(comment=comment),
            _("Gõ /baocaocuatoi sua {id} để sửa.").format(id=report.id),
        ]
    )


async def sent_back_notice(
    session: AsyncSession, translators, report: Report, comment: str
) -> int | None:
    """Queue, to the officer who filed `report`, that staff sent it back with `comment` (in the
    officer's language, on their channel, with a button to correct it); the outbox row id, or
    None when the officer was erased or cannot be reached."""

    def reply(user: User) -> Reply:
        t: Translator = translators(user.locale or "vi")
        return Reply(
            text=sent_back_text(t._, report, comment),
            buttons=(
                Button(t._("Sửa #{id}").format(id=report.id), f"/baocaocuatoi sua {report.id}"),
            ),
        )

    return await _queue(session, report.officer_id, reply, REPORT_SOURCE)
