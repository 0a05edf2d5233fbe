"""Subscribing to and stopping notices: one subscription per user and channel."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.registry import action
from bot.flows.consent import require_consent
from bot.storage.repositories import subscriptions


@action("subscribe")
async def subscribe(ctx: Context) -> None:
    if not await require_consent(ctx, "notices", resume="subscribe"):
        return
    assert ctx.user is not None
    if await subscriptions.subscribe(ctx.session, ctx.user.id, ctx.msg.channel):
        ctx.say(
            ctx._(
                "Đã đăng ký. Bạn sẽ nhận thông báo lớp tập huấn "
                "và tin mới của chương trình. Muốn ngừng, gõ /ngung."
            )
        )
    else:
        ctx.say(ctx._("Bạn đã đăng ký nhận thông báo rồi. Muốn ngừng, gõ /ngung."))


@action("unsubscribe")
async def unsubscribe(ctx: Context) -> None:
    assert ctx.user is not None
    if await subscriptions.unsubscribe(ctx.session, ctx.user.id, ctx.msg.channel):
        ctx.say(ctx._("Đã ngừng gửi thông báo cho bạn. Muốn nhận lại, gõ /dangky."))
    else:
        ctx.say(
            ctx._(
                "Bạn chưa đăng ký nhận thông báo nên sẽ không nhận tin nào. "
                "Muốn đăng ký, gõ /dangky."
            )
        )
