"""The dialogue stage: numbered answers and buttons, commands, an active flow step, else NLU.

Commands (typed "/start" or a button's payload, bot.core.commands) reach the same intents as typed
text. Numbered options are how buttons degrade on channels without them: the outbox keeps the
options each message offered, so "1" or "2" picks one of the last message's. Actions and flows are
found in the registry (bot.core.registry), never imported from the `actions` package above this
layer.
"""

from __future__ import annotations

import re
import unicodedata

from bot.core.commands import BY_NAME
from bot.core.context import Context
from bot.core.middlewares import MAX_TEXT_CHARS
from bot.core.registry import REGISTRY, end_flow, shortcut_for, understand
from bot.storage.repositories import outbox

CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", CONTROL_RE.sub(" ", text or ""))
    return text.strip()[:MAX_TEXT_CHARS]


def is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 2


async def offered_options(ctx: Context) -> list[str]:
    """The button payloads a typed number chooses among: the last message's, or, right after
    "choose a number from 1 to N", the ones that message was about."""
    options = await outbox.last_options(ctx.session, ctx.msg.channel, ctx.msg.sender_id)
    if not options:
        memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
        options = list(memory.get(NUMBER_HINT, ()))
    return options


async def numbered_choice(ctx: Context, text: str) -> str | None:
    """The option a typed number picks among the last message's buttons, if it is one."""
    if not is_number(text):
        return None
    options = await offered_options(ctx)
    n = int(text)
    return options[n - 1] if 1 <= n <= len(options) else None


NUMBER_HINT = "number_hint"  # session memory: the options "from 1 to N" was said about


async def say_valid_numbers(ctx: Context, text: str) -> bool:
    """A number outside the offered options: say which numbers are valid (the options stand)."""
    if not is_number(text):
        return False
    active = REGISTRY.active(ctx)
    if active is not None and not getattr(active[0], "numbers_are_choices", False):
        return False  # a form may ask for a number: the flow reads it
    options = await offered_options(ctx)
    if not options:
        return False
    ctx.turn.intent = "help"
    n = len(options)
    if n == 1:
        ctx.say(ctx._("Số {number} không có trong các lựa chọn. Xin gõ số 1.").format(number=text))
    else:
        ctx.say(
            ctx._("Số {number} không có trong các lựa chọn. Xin gõ một số từ 1 đến {last}.").format(
                number=text, last=n
            )
        )
    ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)[NUMBER_HINT] = options
    return True


async def run_command(ctx: Context, command: str) -> bool:
    """Run a slash command or button payload; False when it is not one we know."""
    name, _, arg = command.strip().partition(" ")
    name = name.split("@", 1)[0].lower()  # Telegram adds @botname in groups
    ctx.arg = arg.strip()
    if REGISTRY.owns(name):
        return await REGISTRY.take_command(ctx, name, ctx.arg)
    known = BY_NAME.get(name)
    if known is None:
        return False
    if known.ends_flow:
        end_flow(ctx)
    await REGISTRY.run_intent(ctx, known.intent)
    return True


async def dialogue(ctx: Context) -> None:
    msg = ctx.msg
    text = clean_text(msg.text)
    command = (
        msg.payload or await numbered_choice(ctx, text) or (text if text.startswith("/") else None)
    )
    if not command and await say_valid_numbers(ctx, text):
        return
    # "From 1 to N" holds for the one message after it.
    ctx.services.memory.get(msg.channel, msg.sender_id).pop(NUMBER_HINT, None)
    handled = False
    if command:
        handled = await run_command(ctx, command)
        if not handled and text.startswith("/"):
            ctx.turn.intent = "help"
            ctx.say(ctx._("Tôi không biết lệnh này. Gõ /trogiup để xem các lệnh."))
            handled = True
    if not handled and (text or msg.media or msg.location) and await REGISTRY.take_text(ctx, text):
        handled = True
    if not handled:
        if not text and any(m.kind in ("voice", "audio") for m in msg.media):
            ctx.turn.intent = "voice"  # a person listens (actions/conversation.py)
            await REGISTRY.run_intent(ctx, "voice")
        elif not text:
            ctx.turn.intent = "help"
            if msg.media or msg.location:
                ctx.say(
                    ctx._(
                        "Tôi đã nhận ảnh hoặc vị trí, nhưng chưa biết để làm gì. "
                        "Muốn gửi phản ánh, gõ /phananh."
                    )
                )
            else:
                ctx.say(
                    ctx._("Tôi chỉ đọc được tin nhắn chữ. Bạn gõ câu hỏi nhé, hoặc gõ /trogiup.")
                )
        elif (found := shortcut_for(ctx, text)) is not None:
            ctx.arg = found[1]  # a tracking code, a one-line report: no NLU needed
            await REGISTRY.run_intent(ctx, found[0])
        else:
            result = await understand(ctx, text)
            await REGISTRY.run_intent(ctx, "fallback" if result.low_confidence else result.intent)
            if not ctx.lang_known and ctx.user is not None:
                memory = ctx.services.memory.get(msg.channel, msg.sender_id)
                if not memory.get("lang_asked"):
                    await REGISTRY.run_intent(ctx, "ask_language")
