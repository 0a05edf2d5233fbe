"""Consent, and seeing and deleting one's data from inside the chat.

Asking questions needs no personal data. Subscribing, feedback and reports first show a short
privacy notice and ask once for consent; the consent row records the notice version, time, channel
and purpose. `/dulieu` shows what is kept; `/xoadulieu` deletes it all after a confirmation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import delete, select

from actions.base import action
from bot.i18n import LANGUAGES, N_, format_datetime
from bot.messages import Button

from bot.core.context import Context
from bot.storage.models import Consent, Subscription, User

PURPOSES = {
    "notices": N_("gửi thông báo, lớp tập huấn cho bạn"),
    "feedback": N_("nhận và trả lời phản ánh của bạn"),
    "report": N_("nhận báo cáo của cán bộ"),
}
YES = {"dong y", "co", "ok", "oke", "yes", "u", "uh", "dc", "duoc", "dong y a", "co a", "1"}
NO = {"khong", "ko", "k", "no", "thoi", "khong dong y", "2"}

# Actions that wait for consent are resumed by name after the user agrees.
RESUME: dict[str, Callable[[Context], Awaitable[None]]] = {}


def privacy_notice(ctx: Context, purpose: str) -> str:
    _ = ctx._
    return "\n".join([
        _("Để {purpose}, tôi cần lưu một số thông tin của bạn:").format(purpose=_(PURPOSES[purpose])),
        _("- Lưu gì: mã tài khoản trò chuyện, ngôn ngữ bạn chọn, và nội dung bạn gửi."),
        _("- Để làm gì: chỉ để {purpose}; không công bố, không có trong dữ liệu mở.").format(purpose=_(PURPOSES[purpose])),
        _("- Bao lâu: tối đa {days} ngày, hoặc đến khi bạn xóa.").format(days=ctx.settings.privacy.retention_days),
        _("- Xem và xóa: gõ /dulieu bất cứ lúc nào."),
        _("Bạn có đồng ý không?"),
    ])


async def require_consent(ctx: Context, purpose: str, resume: str) -> bool:
    """True when consent is on record; otherwise ask for it and remember what to resume."""
    if purpose in await ctx.load_consents():
        return True
    ctx.set_state(flow={"name": "consent", "purpose": purpose, "resume": resume})
    ctx.say(privacy_notice(ctx, purpose),
            buttons=[Button(ctx._("Đồng ý"), "/consent yes"), Button(ctx._("Không đồng ý"), "/consent no")])
    return False


async def answer_consent(ctx: Context, yes: bool) -> None:
    assert ctx.user is not None
    flow = ctx.state.get("flow") or {}
    ctx.set_state(flow=None)
    if flow.get("name") != "consent":
        ctx.say(ctx._("Hiện không có gì cần bạn đồng ý."))
        return
    if not yes:
        ctx.say(ctx._("Tôi không lưu gì cả. Bạn vẫn có thể hỏi thông tin mà không cần đồng ý."))
        return
    purpose = flow["purpose"]
    ctx.session.add(Consent(user_id=ctx.user.id, purpose=purpose, channel=ctx.msg.channel,
                            notice_version=ctx.settings.privacy.notice_version, given_at=datetime.now(UTC)))
    (await ctx.load_consents()).add(purpose)
    if ctx.lang_known:
        ctx.user.locale = ctx.lang  # may be kept now
    ctx.say(ctx._("Cảm ơn bạn. Tôi đã ghi nhận sự đồng ý của bạn."))
    resume = RESUME.get(flow.get("resume", ""))
    if resume is not None:
        await resume(ctx)


@action("my_data")
async def my_data(ctx: Context) -> None:
    """Show everything stored about the user, with the ways to delete it."""
    assert ctx.user is not None
    _ = ctx._
    u = ctx.user
    consents = (await ctx.session.execute(select(Consent).where(Consent.user_id == u.id, Consent.withdrawn_at.is_(None)))).scalars().all()
    subs = (await ctx.session.execute(select(Subscription).where(Subscription.user_id == u.id, Subscription.active.is_(True)))).scalars().all()
    lines = [_("Dữ liệu tôi đang lưu về bạn:")]
    lines.append(_("- Mã tài khoản trên {channel} (để trả lời bạn)").format(channel=u.channel))
    if u.locale:
        lines.append(_("- Ngôn ngữ: {lang}").format(lang=LANGUAGES.get(u.locale, u.locale)))
    if u.display_name:
        lines.append(_("- Tên: {name}").format(name=u.display_name))
    if u.phone:
        lines.append(_("- Số điện thoại: {phone}").format(phone=u.phone))
    for c in consents:
        lines.append(_("- Đồng ý để {purpose}, ngày {when}").format(purpose=_(PURPOSES.get(c.purpose, c.purpose)),
                                                                    when=format_datetime(c.given_at, ctx.lang)))
    lines.append(_("- Nhận thông báo: {state}").format(state=_("có") if subs else _("không")))
    lines.append(_("Dữ liệu này không công bố và không có trong dữ liệu mở."))
    ctx.say("\n".join(lines), buttons=[Button(_("Xóa dữ liệu của tôi"), "/xoadulieu")])


@action("delete_data")
async def delete_data(ctx: Context) -> None:
    ctx.set_state(flow={"name": "delete"})
    ctx.say(ctx._("Bạn có chắc muốn xóa toàn bộ dữ liệu của bạn? Bạn sẽ ngừng nhận thông báo."),
            buttons=[Button(ctx._("Xóa hết"), "/delete yes"), Button(ctx._("Không xóa"), "/delete no")])


async def confirm_delete(ctx: Context, yes: bool) -> None:
    assert ctx.user is not None
    flow = ctx.state.get("flow") or {}
    ctx.set_state(flow=None)
    if not yes or flow.get("name") != "delete":
        ctx.say(ctx._("Đã hủy. Dữ liệu của bạn vẫn giữ nguyên."))
        return
    uid = ctx.user.id
    # Everything hangs off the user row with ON DELETE CASCADE; delete explicitly too, for SQLite
    # files created without foreign keys enforced.
    await ctx.session.execute(delete(Consent).where(Consent.user_id == uid))
    await ctx.session.execute(delete(Subscription).where(Subscription.user_id == uid))
    await ctx.session.execute(delete(User).where(User.id == uid))
    ctx.session.expunge(ctx.user)
    ctx.user = None
    ctx.consents = set()
    ctx.services.memory.forget(ctx.msg.channel, ctx.msg.sender_id)
    ctx.say(ctx._("Đã xóa toàn bộ dữ liệu của bạn. Bạn vẫn có thể hỏi thông tin bất cứ lúc nào."))

