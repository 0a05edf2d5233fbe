"""The dialogue stage: numbered answers and buttons, commands, an active flow step, else NLU.

Commands (typed "/start" or a button's payload) reach the same intents as typed text. Numbered
options are how buttons degrade on channels without them: the last options offered are kept in the
user's dialogue state, so "1" or "2" picks one.
"""

from __future__ import annotations

import re
import unicodedata

from actions import run_intent
from actions.answers import answer_by_id
from actions.conversation import ask_language, fallback, set_language, start, topic_menu
from actions.privacy import answer_consent, confirm_delete, delete_data
from bot.i18n import LANGUAGES
from bot.core.middlewares import MAX_TEXT_CHARS
from bot.core.context import Context
from nlu.normalize import fold

# Command -> intent. Telegram's menu commands, and button payloads.
COMMAND_INTENTS = {
    "/help": "help",
    "/menu": "help",
    "/language": "set_language",
    "/ngonngu": "set_language",
    "/subscribe": "subscribe",
    "/dangky": "subscribe",
    "/stop": "unsubscribe",
    "/unsubscribe": "unsubscribe",
    "/baocao": "report",
    "/phananh": "feedback",
    "/dulieu": "my_data",
    "/human": "human",
    "/canbo": "human",
}
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")
YES_NO = {"yes": True, "no": False}


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", CONTROL_RE.sub(" ", text or ""))
    return text.strip()[:MAX_TEXT_CHARS]


def numbered_choice(ctx: Context, text: str) -> str | None:
    options = ctx.state.get("options") or []
    if text.isdigit() and options:
        n = int(text)
        if 1 <= n <= len(options):
            return options[n - 1]
    return None


async def run_command(ctx: Context, command: str) -> bool:
    """Run a slash command or button payload; False when it is not one we know."""
    name, _, arg = command.strip().partition(" ")
    name = name.split("@", 1)[0].lower()  # Telegram adds @botname in groups
    ctx.arg = arg.strip()
    if name == "/start":
        ctx.turn.intent = "greet"
        ctx.set_state(flow=None)
        await start(ctx)
    elif name == "/lang" and ctx.arg in LANGUAGES:
        ctx.turn.intent = "set_language"
        await set_language(ctx, ctx.arg)
    elif name == "/consent" and ctx.arg in YES_NO:
        await answer_consent(ctx, YES_NO[ctx.arg])
    elif name == "/delete" and ctx.arg in YES_NO:
        ctx.turn.intent = "my_data"
        await confirm_delete(ctx, YES_NO[ctx.arg])
    elif name == "/xoadulieu":
        ctx.turn.intent = "my_data"
        await delete_data(ctx)
    elif name == "/answer" and ctx.arg:
        await answer_by_id(ctx, ctx.arg)
    elif name == "/topic":
        ctx.turn.intent = ctx.arg if ctx.arg in ("ask_policy", "ask_product", "ask_training") else "help"
        await topic_menu(ctx)
    elif name in COMMAND_INTENTS:
        ctx.set_state(flow=None)
        await run_intent(ctx, COMMAND_INTENTS[name])
    else:
        return False
    return True


async def flow_step(ctx: Context, text: str) -> bool:
    """Typed answers to an active flow (consent, delete confirmation); False to leave the flow."""
    flow = ctx.state.get("flow") or {}
    if not flow:
        return False
    from actions.privacy import NO, YES

    answer = " ".join(fold(text).lower().strip(" .!").split())
    if answer in YES or answer in NO:
        if flow.get("name") == "consent":
            await answer_consent(ctx, answer in YES)
            return True
        if flow.get("name") == "delete":
            ctx.turn.intent = "my_data"
            await confirm_delete(ctx, answer in YES)
            return True
    ctx.set_state(flow=None)  # they moved on: treat the text as a new message
    return False


async def dialogue(ctx: Context) -> None:
    msg = ctx.msg
    text = clean_text(msg.text)
    command = msg.payload or numbered_choice(ctx, text) or (text if text.startswith("/") else None)
    handled = False
    if command:
        handled = await run_command(ctx, command)
        if not handled and text.startswith("/"):
            ctx.turn.intent = "help"
            ctx.say(ctx._("Tôi không biết lệnh này. Gõ /help để xem các lệnh."))
            handled = True
    if not handled and text and await flow_step(ctx, text):
        handled = True
    if not handled:
        if not text:
            ctx.turn.intent = "help"
            if msg.media or msg.location:
                ctx.say(ctx._("Tôi đã nhận ảnh hoặc vị trí, nhưng chưa biết để làm gì. Muốn gửi phản ánh, gõ /phananh."))
            else:
                ctx.say(ctx._("Tôi chỉ đọc được tin nhắn chữ. Bạn gõ câu hỏi nhé, hoặc gõ /help."))
        else:
            ctx.nlu = result = await ctx.services.nlu.parse(text, ctx.lang)
            ctx.turn.intent, ctx.turn.confidence = result.intent, result.confidence
            if result.low_confidence:
                await fallback(ctx, [c.item_id for c in result.candidates])
            else:
                await run_intent(ctx, result.intent)
            if not ctx.lang_known and ctx.user is not None:
                memory = ctx.services.memory.get(msg.channel, msg.sender_id)
                if not memory.get("lang_asked"):
                    await ask_language(ctx)
    if ctx.user is not None:
        last = ctx.turn.replies[-1] if ctx.turn.replies else None
        ctx.set_state(options=[b.payload for b in last.buttons] if last and last.buttons else None)
