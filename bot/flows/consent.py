"""The consent flow: a short privacy notice, yes or no, then the intent that asked for it.

Asking questions needs no personal data. Subscribing, feedback and reports call `require_consent`
first: the user sees what is kept, why, how long and how to see and delete it, and is asked once.
The consent row records the notice version, time, channel and purpose. The flow stores the
intent to resume by name, and after "đồng ý" runs it again through the registry: it now finds the
consent on record and does what the user asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.registry import REGISTRY, FlowState, understand
from bot.flows.yesno import YesNoFlow
from bot.i18n import N_
from bot.messages import Button
from bot.storage.repositories import users
from nlu.intents import QUESTION_INTENTS

if TYPE_CHECKING:
    from bot.core.context import Context

PURPOSES = {
    "notices": N_("gửi thông báo, lớp tập huấn cho bạn"),
    "feedback": N_("nhận và trả lời phản ánh của bạn"),
    "report": N_("nhận báo cáo của cán bộ"),
    # A villager asking for a person (bot/handoff/): their messages go to staff.
    "handoff": N_("chuyển tin nhắn của bạn cho cán bộ và nhận câu trả lời"),
    # A translator's recordings and texts (bot/voice/): who made each, kept as theirs.
    "translate": N_("nhận bản ghi âm, bản dịch của người dịch"),
}


NOTICE_SHOWN = "consent_notice_shown"  # session memory: purposes whose full notice was shown
# Answered while the consent question waits (and it still waits), like questions about content.
SMALL_TALK = ("greet", "thank", "out_of_scope")


def privacy_notice(ctx: Context, purpose: str) -> str:
    _ = ctx._
    return "\n".join(
        [
            _("Để {purpose}, tôi cần lưu một số thông tin của bạn:").format(
                purpose=_(PURPOSES[purpose])
            ),
            _("- Lưu gì: mã tài khoản trò chuyện, ngôn ngữ bạn chọn, và nội dung bạn gửi."),
            _("- Để làm gì: chỉ để {purpose}; không công bố, không có trong dữ liệu mở.").format(
                purpose=_(PURPOSES[purpose])
            ),
            _("- Bao lâu: tối đa {days} ngày, hoặc đến khi bạn xóa.").format(
                days=ctx.settings.privacy.retention_days
            ),
            _("- Xem và xóa: gõ /dulieu bất cứ lúc nào."),
            _("Bạn có đồng ý không?"),
        ]
    )


async def require_consent(ctx: Context, purpose: str, resume: str) -> bool:
    """True when consent for `purpose` is on record; otherwise ask for it, to resume `resume`."""
    if purpose in await ctx.load_consents():
        return True
    await REGISTRY.start_flow(ctx, ConsentFlow.name, purpose=purpose, resume=resume)
    return False


@REGISTRY.flow
class ConsentFlow(YesNoFlow):
    """The notice waits for "đồng ý" / "không"; what is typed meanwhile is not dropped.

    A villager reading the notice may first ask about the policy that made them subscribe, say
    hello or thanks: that is answered (the registry runs its intent), the short question is asked
    again, and the consent still waits. Text not understood is said so, and the question waits;
    the same request again gets the short question, not the notice word for word. Another
    request (a report, /dulieu...) ends the flow and is a new message.
    """

    name = "consent"
    commands = ("/consent",)

    def consent_buttons(self, ctx: Context) -> list[Button]:
        return self.buttons(ctx._("Đồng ý"), ctx._("Không đồng ý"))

    async def start(self, ctx: Context, **data: Any) -> None:
        purpose = data["purpose"]
        self.save(ctx, "notice", purpose=purpose, resume=data["resume"])
        # The full notice once a session; asked again (the same request typed twice), the short
        # question: the notice is just above. Kept in session memory (nothing stored yet).
        memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
        shown = memory.setdefault(NOTICE_SHOWN, set())
        if purpose in shown:
            self.ask_again(ctx, purpose)
            return
        shown.add(purpose)
        ctx.say(privacy_notice(ctx, purpose), buttons=self.consent_buttons(ctx))

    def ask_again(self, ctx: Context, purpose: str) -> None:
        """The short question, after something else was answered: the notice is above."""
        ctx.say(
            ctx._("Bạn có đồng ý cho tôi lưu thông tin để {purpose} không?").format(
                purpose=ctx._(PURPOSES[purpose])
            ),
            buttons=self.consent_buttons(ctx),
        )

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        if await super().take_text(ctx, state, text):
            return True
        purpose = state.data.get("purpose")
        if purpose not in PURPOSES:
            return False
        result = await understand(ctx, text)
        if result.low_confidence:
            # Not dropped: said not understood, and the question still waits.
            ctx.turn.intent = "fallback"
            ctx.say(ctx._("Tôi chưa hiểu tin nhắn này."))
            self.ask_again(ctx, purpose)
            return True
        if result.intent == state.data.get("resume"):
            ctx.turn.intent = result.intent  # asked for again: it waits for this answer
            self.ask_again(ctx, purpose)
            return True
        if result.intent not in QUESTION_INTENTS and result.intent not in SMALL_TALK:
            return False  # another request: the user moved on
        await self.registry.run_intent(ctx, result.intent)
        self.ask_again(ctx, purpose)
        return True

    async def answer(self, ctx: Context, state: FlowState | None, yes: bool) -> None:
        assert ctx.user is not None
        data = state.data if state is not None else {}
        purpose = data.get("purpose")
        if purpose not in PURPOSES:
            ctx.say(ctx._("Hiện không có gì cần bạn đồng ý."))
            return
        if not yes:
            ctx.say(ctx._("Tôi không lưu gì cả. Bạn vẫn có thể hỏi thông tin mà không cần đồng ý."))
            return
        users.add_consent(
            ctx.session, ctx.user.id, purpose, ctx.msg.channel, ctx.settings.privacy.notice_version
        )
        (await ctx.load_consents()).add(purpose)
        if ctx.lang_known:
            ctx.user.locale = ctx.lang  # may be kept now
        ctx.say(ctx._("Cảm ơn bạn. Tôi đã ghi nhận sự đồng ý của bạn."))
        resume = data.get("resume")
        if isinstance(resume, str) and self.registry.has_action(resume):
            await self.registry.run_intent(ctx, resume)
