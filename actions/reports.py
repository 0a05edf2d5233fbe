"""Reports from commune officers and feedback from villagers.

Both need consent first. The form engine that collects their fields (content/forms/*.yml) comes
with its own issue; until then the bot says plainly that the feature is coming and how to reach
a person.
"""

from __future__ import annotations

from actions.conversation import contact_text
from bot.core.context import Context
from bot.core.registry import action
from bot.flows.consent import require_consent


@action("report")
async def report(ctx: Context) -> None:
    if not await require_consent(ctx, "report", resume="report"):
        return
    ctx.say(
        ctx._(
            "Chức năng gửi báo cáo qua tin nhắn sắp có. "
            "Trong lúc chờ, xin gửi báo cáo theo cách hiện nay."
        )
        + "\n"
        + contact_text(ctx)
    )


@action("feedback")
async def feedback(ctx: Context) -> None:
    if not await require_consent(ctx, "feedback", resume="feedback"):
        return
    ctx.say(
        ctx._(
            "Chức năng gửi phản ánh kèm ảnh và vị trí sắp có. "
            "Trong lúc chờ, bạn có thể báo trực tiếp cho cán bộ."
        )
        + "\n"
        + contact_text(ctx)
    )
