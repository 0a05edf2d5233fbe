"""Delete-my-data: one confirmation, then everything kept about the user goes.

Deleted or anonymised (bot.privacy.erase): the user row, their consents and subscriptions, the
replies sent to them (outbox rows), their messages not handled yet, the inbox keys that carry
their id (hashed), their session memory and export files. Replies not yet sent still go, and so
does the one confirming the deletion (the pipeline writes it after this turn, with no user
attached); once sent, they are deleted too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.registry import REGISTRY, FlowState
from bot.flows.yesno import YesNoFlow
from bot.privacy.erase import erase_in_turn

if TYPE_CHECKING:
    from bot.core.context import Context

INTENT = "delete_data"  # what the flow's turns report, from the question to the answer


@REGISTRY.flow
class DeleteFlow(YesNoFlow):
    """No questions in the middle: a destructive "có" must answer the question just asked, so
    anything else typed drops the question."""

    name = "delete"
    commands = ("/delete",)

    async def start(self, ctx: Context, **data: Any) -> None:
        self.save(ctx, "confirm")
        ctx.say(
            ctx._("Bạn có chắc muốn xóa toàn bộ dữ liệu của bạn? Bạn sẽ ngừng nhận thông báo."),
            buttons=self.buttons(ctx._("Xóa hết"), ctx._("Không xóa")),
        )

    async def answer(self, ctx: Context, state: FlowState | None, yes: bool) -> None:
        ctx.turn.intent = INTENT
        if not yes or state is None:
            ctx.say(ctx._("Đã hủy. Dữ liệu của bạn vẫn giữ nguyên."))
            return
        await erase_in_turn(ctx)
        ctx.say(
            ctx._("Đã xóa toàn bộ dữ liệu của bạn. Bạn vẫn có thể hỏi thông tin bất cứ lúc nào.")
        )
