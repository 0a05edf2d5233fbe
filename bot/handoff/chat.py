"""The chat side of a handoff: `ask_for_person` (the `human` action) and `HandoffFlow`.

While the flow is active, typed text is stored for staff (`handoff_messages`) and not given to
the NLU; the villager gets "Đã chuyển cho cán bộ" at most once every `handoff.ack_minutes`.
The flow's state holds the handoff id and when it last acknowledged. The handoff row is the
truth: once staff hand it back (or the retention job removed it) the flow ends at the next
message, which is then answered as usual. `/huy` (the forms' cancel, which this flow also takes
while it is active), "hủy" / "kết thúc" typed, or the "Kết thúc" button (`/handoff end`) end it.
A command that starts something else leaves the flow; the handoff stays open for staff, whose
replies still reach the villager, with a button back into it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.core.registry import REGISTRY, Flow, FlowState, end_flow
from bot.flows.consent import require_consent
from bot.messages import Button
from bot.storage.models import utcnow
from bot.storage.repositories import handoff as repo
from nlu.normalize import fold

if TYPE_CHECKING:
    from bot.core.context import Context

NAME = "handoff"
COMMAND = "/handoff"  # "/handoff end": the "Kết thúc" button
CANCEL = "/huy"
PURPOSE = "handoff"
INTENT = "human"
END_WORDS = {"huy", "huy bo", "ket thuc", "dung lai", "thoat", "/huy"}


def end_button(ctx: Context) -> Button:
    return Button(ctx._("Kết thúc trò chuyện với cán bộ"), f"{COMMAND} end")


async def area_of(ctx: Context) -> str | None:
    """The user's area when known: an officer's own, else the one a villager gave with their
    notice subscription (bot/notices); None otherwise."""
    assert ctx.user is not None
    return ctx.area_code or await repo.known_area(ctx.session, ctx.user.id)


async def ask_for_person(ctx: Context) -> None:
    """Open (or go back to) the user's handoff, after the "handoff" consent."""
    assert ctx.user is not None
    if not await require_consent(ctx, PURPOSE, resume=INTENT):
        return
    h, created = await repo.start(ctx.session, ctx.user, ctx.lang, await area_of(ctx))
    # The words that asked ("cho tôi hỏi cán bộ về đất rừng") tell staff what it is about; a
    # button, a command or the "đồng ý" that resumed this after consent do not.
    nlu = ctx.nlu
    typed = ctx.msg.text or ""
    if nlu is not None and nlu.intent == INTENT and ctx.msg.payload is None and typed:
        if not typed.startswith("/"):
            await repo.add_message(ctx.session, h, repo.VILLAGER, typed)
    REGISTRY.flows[NAME].save(ctx, "open", id=h.id, ack=int(time.time()))
    ctx.turn.intent = INTENT
    if created:
        text = "\n".join(
            [
                ctx._("Tôi đã báo cán bộ. Một cán bộ sẽ trả lời bạn ngay trong trò chuyện này."),
                ctx._("Bạn cứ nhắn điều cần hỏi, tin nhắn sẽ được chuyển cho cán bộ."),
                ctx._("Muốn dừng, gõ /huy hoặc bấm nút dưới đây."),
            ]
        )
    else:
        text = ctx._("Bạn đang trò chuyện với cán bộ. Bạn cứ nhắn, cán bộ sẽ trả lời tại đây.")
    ctx.say(text, buttons=[end_button(ctx)])


VOICE_TEXT = "[tin nhắn thoại]"  # what the inbox shows beside the player, and /dulieu


def voice_ref(ctx: Context) -> str | None:
    """The stored reference of the message's voice message or audio, if it has one (the media
    step stored it before the turn: bot/media)."""
    from bot.media.store import is_stored_ref

    for m in ctx.msg.media:
        if m.kind in ("voice", "audio") and is_stored_ref(m.ref):
            return m.ref
    return None


async def pass_voice_on(ctx: Context, voice: str) -> bool:
    """A villager's voice message outside a conversation with staff goes to the handoff inbox
    (a conversation opened or continued) when they gave the "handoff" consent before; False,
    and nothing kept, when they did not."""
    assert ctx.user is not None
    if PURPOSE not in await ctx.load_consents():
        return False
    h, _created = await repo.start(ctx.session, ctx.user, ctx.lang, await area_of(ctx))
    await repo.add_message(ctx.session, h, repo.VILLAGER, VOICE_TEXT, media_ref=voice)
    REGISTRY.flows[NAME].save(ctx, "open", id=h.id, ack=int(time.time()))
    return True


async def end_handoff(ctx: Context) -> None:
    """The villager ends their open handoff (the flow may or may not be active)."""
    assert ctx.user is not None
    end_flow(ctx)
    ctx.turn.intent = INTENT
    h = await repo.open_for(ctx.session, ctx.user.id)
    if h is None:
        ctx.say(ctx._("Không có cuộc trò chuyện nào với cán bộ đang mở."))
        return
    repo.close(h, repo.VILLAGER)
    ctx.say(ctx._("Đã kết thúc trò chuyện với cán bộ. Bạn có thể hỏi tôi tiếp bất cứ lúc nào."))


@REGISTRY.flow
class HandoffFlow(Flow):
    name = NAME
    commands = (COMMAND,)
    also_takes = (CANCEL,)
    accepts_media = True  # a photo while talking to staff: said that only text goes through

    async def start(self, ctx: Context, **data: Any) -> None:
        await ask_for_person(ctx)

    async def take_text(self, ctx: Context, state: FlowState, text: str) -> bool:
        assert ctx.user is not None
        hid = state.data.get("id")
        h = await repo.get(ctx.session, hid) if isinstance(hid, int) else None
        if h is None or h.status != repo.OPEN or h.user_id != ctx.user.id:
            end_flow(ctx)
            if h is not None and h.closed_by == "staff_late":
                # Handed back outside the reply window: the notice could not be sent then.
                ctx.say(ctx._("Cán bộ đã kết thúc trò chuyện. Làng Số trả lời bạn tiếp."))
            return False  # answered as a new message
        idle = timedelta(hours=ctx.settings.handoff.idle_hours)
        if utcnow() - h.last_message_at > idle:
            # Nobody wrote for a long while: what they type now is for the bot again. The
            # conversation stays open for staff, whose reply brings a button back into it.
            end_flow(ctx)
            ctx.say(ctx._("Cuộc trò chuyện với cán bộ đang chờ. Cần nhắn cho cán bộ, gõ /canbo."))
            return False
        ctx.turn.intent = "handoff"
        if " ".join(fold(text).lower().strip(" .!").split()) in END_WORDS:
            await end_handoff(ctx)
            return True
        voice = voice_ref(ctx)
        if not text and voice is None:
            ctx.say(
                ctx._(
                    "Cán bộ chỉ nhận được tin nhắn chữ và tin nhắn thoại. Xin gõ điều bạn muốn nói."
                ),
                buttons=[end_button(ctx)],
            )
            return True
        if voice is not None:
            await repo.add_message(
                ctx.session, h, repo.VILLAGER, text or VOICE_TEXT, media_ref=voice
            )
        else:
            await repo.add_message(ctx.session, h, repo.VILLAGER, text)
        now = int(time.time())
        last = state.data.get("ack")
        gap = ctx.settings.handoff.ack_minutes * 60
        if not isinstance(last, int) or now - last >= gap:
            ctx.say(ctx._("Đã chuyển tin nhắn cho cán bộ."), buttons=[end_button(ctx)])
            self.save(ctx, "open", id=h.id, ack=now)
        return True

    async def take_command(
        self, ctx: Context, state: FlowState | None, command: str, arg: str
    ) -> bool:
        if command == CANCEL or arg == "end":
            await end_handoff(ctx)
            return True
        return False
