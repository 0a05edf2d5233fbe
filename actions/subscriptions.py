"""Subscribing to and stopping notices: one subscription per user and channel."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from actions.base import action
from actions.privacy import RESUME, require_consent
from bot.core.context import Context
from bot.storage.dialect import insert_ignore
from bot.storage.models import Subscription


@action("subscribe")
async def subscribe(ctx: Context) -> None:
    if not await require_consent(ctx, "notices", resume="subscribe"):
        return
    assert ctx.user is not None
    now = datetime.now(UTC)
    inserted = (await ctx.session.execute(
        insert_ignore(ctx.session, Subscription, {"user_id": ctx.user.id, "channel": ctx.msg.channel, "active": True,
                                                  "created_at": now, "updated_at": now},
                      ["user_id", "channel"])
    )).rowcount
    sub = (await ctx.session.execute(
        select(Subscription).where(Subscription.user_id == ctx.user.id, Subscription.channel == ctx.msg.channel)
    )).scalar_one()
    already = not inserted and sub.active
    if not sub.active:
        sub.active, sub.updated_at = True, now
    if already:
        ctx.say(ctx._("Bạn đã đăng ký nhận thông báo rồi. Muốn ngừng, gõ /stop."))
    else:
        ctx.say(ctx._("Đã đăng ký. Bạn sẽ nhận thông báo lớp tập huấn và tin mới của chương trình. Muốn ngừng, gõ /stop."))


RESUME["subscribe"] = subscribe


@action("unsubscribe")
async def unsubscribe(ctx: Context) -> None:
    assert ctx.user is not None
    sub = (await ctx.session.execute(
        select(Subscription).where(Subscription.user_id == ctx.user.id, Subscription.channel == ctx.msg.channel)
    )).scalar_one_or_none()
    if sub is None or not sub.active:
        ctx.say(ctx._("Bạn chưa đăng ký nhận thông báo nên sẽ không nhận tin nào. Muốn đăng ký, gõ /subscribe."))
        return
    sub.active, sub.updated_at = False, datetime.now(UTC)
    ctx.say(ctx._("Đã ngừng gửi thông báo cho bạn. Muốn nhận lại, gõ /subscribe."))
