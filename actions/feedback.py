"""Citizens' feedback in the chat: `/phananh`, the tracking code, `/theodoi CODE`.

- `/phananh` asks the "feedback" consent (the consent flow) and runs the feedback form
  (content/forms/feedback.yml): category, description, optional photo, location and contact
  phone (a Vietnamese number, stored only when given). `submit_feedback` writes the row with a
  new tracking code (bot/feedback/tracking.py) and tells it to the citizen.
- `/theodoi CODE`, or the code typed alone (a registry shortcut, read before the NLU), shows the
  status. The code is the credential: whoever holds it sees the status and the staff's reply;
  only the owner also sees the description. Wrong codes are limited per person.
- Staff change the status with `python -m bot feedback set-status` (bot/reports/cli.py); the
  citizen is told through the outbox (bot/feedback/notify.py).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.core.context import Context
from bot.core.registry import action, shortcut
from bot.feedback import tracking
from bot.flows.consent import require_consent
from bot.flows.forms import start_form, submit_handler
from bot.flows.forms.schema import Form, forms_for
from bot.i18n import format_datetime
from bot.storage.repositories import feedback as repo
from bot.storage.repositories import subscriptions

FEEDBACK_FORM = "feedback"


@action("feedback")
async def feedback(ctx: Context) -> None:
    if not await require_consent(ctx, "feedback", resume="feedback"):
        return
    await start_form(ctx, FEEDBACK_FORM)


def _category(ctx: Context, code: str) -> str:
    for o in forms_for(ctx.content.root).lists.feedback_categories:
        if str(o.value) == code:
            return o.label_for(ctx.lang)
    return code


@submit_handler("feedback")
async def submit_feedback(ctx: Context, form: Form, answers: dict[str, Any]) -> str:
    assert ctx.user is not None
    photo = answers.get("photo") if isinstance(answers.get("photo"), dict) else None
    place = answers.get("location") if isinstance(answers.get("location"), dict) else None
    phone = answers.get("phone")
    # The commune's staff see it at once when the citizen's area is known: an officer's own, or
    # the one chosen for notices (no new question: the area is not asked for a feedback).
    sub = await subscriptions.get(ctx.session, ctx.user.id, ctx.msg.channel)
    area = ctx.area_code or (sub.area_code if sub is not None else None)
    fb = await repo.add_feedback(
        ctx.session,
        tracking.new_code,
        user_id=ctx.user.id,
        channel=ctx.msg.channel,
        lang=ctx.lang,
        category=str(answers["category"]),
        description=str(answers["description"]),
        photo_ref=str(photo["ref"]) if photo and photo.get("ref") else None,
        latitude=float(place["latitude"]) if place else None,
        longitude=float(place["longitude"]) if place else None,
        phone=str(phone) if phone else None,
        area_code=area,
    )
    code = tracking.show(fb.code)
    return "\n".join(
        [
            ctx._("Đã nhận phản ánh của bạn. Mã theo dõi: {code}").format(code=code),
            ctx._(
                "Giữ mã này: gõ {code} hoặc /theodoi {code} để xem tình trạng. Khi cán bộ xử lý, "
                "tôi sẽ báo bạn ở đây."
            ).format(code=code),
        ]
    )


@shortcut
def typed_code(ctx: Context, text: str) -> tuple[str, str] | None:
    """A message that is only a tracking code ("K7QF-9XPA", "k7qf9xpa")."""
    return ("track_feedback", text) if tracking.normalize(text) is not None else None


@action("track_feedback")
async def track_feedback(ctx: Context) -> None:
    _ = ctx._
    arg = ctx.arg.strip()
    if not arg:
        ctx.say(_("Gõ /theodoi và mã theo dõi của phản ánh, ví dụ: /theodoi K7QF-9XPA"))
        return
    channel, sender = ctx.msg.channel, ctx.msg.sender_id
    wait = await tracking.wait_before_try(ctx.session, ctx.settings, channel, sender)
    if wait is not None:
        minutes = max(1, int(-(-wait.total_seconds() // 60)))
        ctx.say(
            _("Bạn đã nhập sai mã nhiều lần. Hãy thử lại sau {minutes} phút.").format(
                minutes=minutes
            )
        )
        return
    code = tracking.normalize(arg)
    if code is None:
        ctx.say(
            _(
                "Mã theo dõi gồm 8 chữ và số, ví dụ K7QF-9XPA (không có chữ O, I, L, số 0, 1). "
                "Gõ lại: /theodoi và mã."
            )
        )
        return
    fb = await repo.by_code(ctx.session, code)
    if fb is None:
        await tracking.count_wrong_try(ctx.session, ctx.settings, channel, sender)
        ctx.say(
            _(
                "Không có phản ánh nào mang mã {code}. Kiểm tra lại mã. (Mã mời cán bộ thì gõ "
                "/macanbo và mã.)"
            ).format(code=tracking.show(code))
        )
        return
    tz = ZoneInfo(ctx.settings.reports.timezone)
    lines = [
        _("Phản ánh {code} ({category}), gửi {when}:").format(
            code=tracking.show(fb.code),
            category=_category(ctx, fb.category),
            when=format_datetime(fb.created_at.astimezone(tz), ctx.lang),
        ),
        _("Tình trạng: {status}.").format(
            status=_(tracking.STATUS_LABELS.get(fb.status, fb.status))
        ),
    ]
    events = await repo.events_of(ctx.session, fb.id)
    last = events[-1] if events else None
    if last is not None and last.reason:
        lines.append(_("Lý do: {reason}").format(reason=last.reason))
    replies = [e for e in events if e.reply]
    if replies:
        lines.append(_("Cán bộ trả lời: {reply}").format(reply=replies[-1].reply))
    if ctx.user is not None and fb.user_id == ctx.user.id:
        text = fb.description if len(fb.description) <= 200 else fb.description[:197] + "..."
        lines.append(_("Nội dung bạn gửi: {text}").format(text=text))
    ctx.say("\n".join(lines))
