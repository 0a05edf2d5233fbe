"""Seeing and deleting one's data from inside the chat.

`/dulieu` shows a summary of what is kept and sends it all as files (bot.privacy.export): a JSON
file for machines and a readable text, written for this request and deleted after
`privacy.export_ttl_minutes`. `/xoadulieu` deletes it all after a confirmation (the delete flow,
bot.flows.delete). Consent itself is the consent flow (bot.flows.consent).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.core.context import Context
from bot.core.registry import REGISTRY, action
from bot.feedback import tracking
from bot.flows.consent import PURPOSES
from bot.flows.delete import DeleteFlow
from bot.i18n import LANGUAGES, format_datetime
from bot.messages import Button
from bot.privacy import export, exports_dir
from bot.storage.repositories import feedback as feedback_repo
from bot.storage.repositories import personal, subscriptions, users
from bot.storage.repositories import reports as reports_repo

# What handling a message needs for the moment, not data kept about the person: the message
# itself being answered (inbox) and replies on their way (outbox).
TRANSIENT = {"channel", "platform_id", "user", "inbox", "outbox"}
USER_FIELDS = ("locale", "display_name", "phone", "area_code")


def nothing_kept(data: dict) -> bool:
    """True when the export would hold nothing but the bare account row of this very message
    (a new user, or one who just erased everything with /xoadulieu)."""
    user = data.get("user") or {}
    if any(user.get(k) for k in USER_FIELDS) or user.get("role") not in (None, "villager"):
        return False
    return not any(v for k, v in data.items() if k not in TRANSIENT)


@action("my_data")
async def my_data(ctx: Context) -> None:
    """Show a summary of everything stored about the user and send it all as files."""
    assert ctx.user is not None
    _ = ctx._
    u = ctx.user
    channel, external_id = ctx.msg.channel, ctx.msg.sender_id
    await ctx.session.flush()  # the user row as this turn leaves it
    data = await personal.collect(ctx.session, channel, external_id)
    if nothing_kept(data):
        ctx.say(
            _(
                "Hiện tôi không lưu dữ liệu nào về bạn: không có sự đồng ý, tên, số điện thoại "
                "hay đăng ký nhận tin. Tin nhắn của bạn chỉ dùng để trả lời."
            )
        )
        return
    consents = await users.active_consents(ctx.session, u.id)
    subscribed = await subscriptions.has_active(ctx.session, u.id)
    lines = [_("Dữ liệu tôi đang lưu về bạn:")]
    lines.append(_("- Mã tài khoản trên {channel} (để trả lời bạn)").format(channel=u.channel))
    if u.locale:
        lines.append(_("- Ngôn ngữ: {lang}").format(lang=LANGUAGES.get(u.locale, u.locale)))
    if u.display_name:
        lines.append(_("- Tên: {name}").format(name=u.display_name))
    if u.phone:
        lines.append(_("- Số điện thoại: {phone}").format(phone=u.phone))
    for c in consents:
        lines.append(
            _("- Đồng ý để {purpose}, ngày {when}").format(
                purpose=_(PURPOSES.get(c.purpose, c.purpose)),
                when=format_datetime(c.given_at, ctx.lang, tz=ctx.settings.timezone),
            )
        )
    receives = _("có") if subscribed else _("không")
    lines.append(_("- Nhận thông báo: {state}").format(state=receives))
    filed = await reports_repo.recent_for(ctx.session, u.id, limit=10_000)
    if filed:
        lines.append(_("- Báo cáo đã gửi: {n} (xem: /baocaocuatoi)").format(n=len(filed)))
    sent = await feedback_repo.for_user(ctx.session, u.id)
    if sent:
        codes = ", ".join(tracking.show(f.code) for f in sent)
        lines.append(_("- Phản ánh đã gửi: {codes}").format(codes=codes))
    lines.append(_("Dữ liệu này không công bố và không có trong dữ liệu mở."))
    lines.append(
        _("Tất cả dữ liệu ở hai tệp sau (tệp được xóa sau {minutes} phút).").format(
            minutes=ctx.settings.privacy.export_ttl_minutes
        )
    )
    ctx.say("\n".join(lines), buttons=[Button(_("Xóa dữ liệu của tôi"), "/xoadulieu")])

    text = export.readable(data, _, ctx.lang, datetime.now(UTC), PURPOSES, tz=ctx.settings.timezone)
    files = await asyncio.to_thread(
        export.write, exports_dir(ctx.settings), channel, external_id, data, text
    )
    ctx.say(_("Tệp dữ liệu đầy đủ (JSON, cho máy đọc)"), document=files.json_ref)
    ctx.say(_("Bản dễ đọc (văn bản)"), document=files.text_ref)


@action("delete_data")
async def delete_data(ctx: Context) -> None:
    await REGISTRY.start_flow(ctx, DeleteFlow.name)
