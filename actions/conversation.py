"""Small talk and navigation: greeting, help menu, language, a person, out of scope, fallback."""

from __future__ import annotations

import re

from actions.menus import featured, language_buttons, main_menu
from bot.core.context import Context
from bot.core.registry import action
from bot.handoff.chat import PURPOSE, ask_for_person, end_button, pass_voice_on, voice_ref
from bot.i18n import LANGUAGES
from bot.messages import Button
from bot.notices import manage
from bot.storage.repositories import gaps
from bot.voice import publish
from nlu.normalize import fold

# Folded words naming a language, matched as whole words.
LANGUAGE_WORDS = {
    "hre": re.compile(r"\b(h\s?re|hrê)\b"),
    "cua": re.compile(r"\b(cor|co|cua|kor)\b"),
    "sed": re.compile(r"\b(ca\s?dong|xo\s?dang|sedang)\b"),
    "vi": re.compile(r"\b(viet|kinh|vietnam)\b"),
}


def say_untranslated_once(ctx: Context) -> None:
    """The "Chưa có bản tiếng Hrê..." note once per user and language: when the language is
    chosen, or the first time a Vietnamese text stands in. Remembered in the dialogue state once
    the language is stored on the user (after consent), in session memory before (it may tell
    ethnicity)."""
    assert ctx.user is not None
    memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
    told = {*ctx.state.get("fallback_told", []), *memory.get("fallback_told", ())}
    if ctx.lang in told:
        return
    ctx.say(
        ctx._("Chưa có bản tiếng {name}, xin đọc bản tiếng Việt.").format(name=LANGUAGES[ctx.lang])
    )
    if ctx.user.locale:
        ctx.set_state(fallback_told=sorted({*ctx.state.get("fallback_told", []), ctx.lang}))
    else:
        memory["fallback_told"] = sorted({*memory.get("fallback_told", ()), ctx.lang})


def language_named(text: str) -> str | None:
    folded = fold(text).lower()
    found = [code for code, rx in LANGUAGE_WORDS.items() if rx.search(folded)]
    return found[0] if len(found) == 1 else None


async def set_language(ctx: Context, lang: str) -> None:
    """Switch language; stored on the user only after consent, else kept in the session."""
    assert ctx.user is not None
    memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
    memory["lang"] = lang
    if await ctx.load_consents():
        changed = ctx.user.locale != lang
        ctx.user.locale = lang
        if changed and ctx.user.id is not None:
            # Notices still queued for them are written again in the language chosen now (or
            # dropped, when the notice was only for the other languages).
            await manage.refresh_user(
                ctx.session, ctx.user.id, ctx.settings, ctx.services.catalogs.for_lang
            )
    ctx.lang, ctx.lang_known = lang, True
    ctx.t = ctx.services.catalogs.for_lang(lang)
    await publish.overlay(ctx)  # a translator's approved texts where the catalog has none
    chosen = ctx._("Đã chọn ngôn ngữ: {name}.").format(name=LANGUAGES[lang])
    voice = await publish.phrase_voice(ctx, "language_chosen", "what_to_ask")
    ctx.say(chosen + " " + ctx._("Bạn muốn hỏi gì?"), buttons=main_menu(ctx), voice=voice)
    if lang != "vi" and not ctx.t.has("Bạn muốn hỏi gì?") and voice is None:
        say_untranslated_once(ctx)


@action("ask_language")
async def ask_language(ctx: Context) -> None:
    ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)["lang_asked"] = True
    ctx.say(ctx._("Mời bạn chọn ngôn ngữ:"), buttons=language_buttons())


@action("set_language")
async def change_language(ctx: Context) -> None:
    """The language a button ("/lang hre") or the text names; else offer the choice."""
    text = ctx.msg.text
    lang = ctx.arg if ctx.arg in LANGUAGES else None
    if lang is None and text and not text.startswith("/"):
        lang = language_named(text)
    if lang:
        await set_language(ctx, lang)
    else:
        await ask_language(ctx)


@action("start")
async def start(ctx: Context) -> None:
    """First contact (/start or a first greeting): welcome and the language choice."""
    await publish.overlay(ctx)
    ctx.say(
        ctx._(
            "Chào bạn! Đây là Làng Số, trợ lý của tỉnh Quảng Ngãi về Chương trình MTQG 1719 "
            "cho đồng bào dân tộc thiểu số và miền núi."
        ),
        voice=await publish.phrase_voice(ctx, "welcome"),
    )
    await ask_language(ctx)


@action("greet")
async def greet(ctx: Context) -> None:
    memory = ctx.services.memory.get(ctx.msg.channel, ctx.msg.sender_id)
    if not ctx.lang_known and not memory.get("lang_asked"):
        await start(ctx)
        return
    await publish.overlay(ctx)
    ctx.say(
        ctx._("Chào bạn! Bạn cần hỏi gì? Bạn có thể gõ câu hỏi hoặc chọn:"),
        buttons=main_menu(ctx),
        voice=await publish.phrase_voice(ctx, "greeting"),
    )


@action("goodbye")
async def goodbye(ctx: Context) -> None:
    ctx.say(ctx._("Chào tạm biệt! Khi cần, bạn cứ nhắn tin lại nhé."))


@action("thank")
async def thank(ctx: Context) -> None:
    ctx.say(ctx._("Không có chi! Bạn còn cần hỏi gì nữa không?"))


@action("help")
async def help_menu(ctx: Context) -> None:
    _ = ctx._
    ctx.say(
        "\n".join(
            [
                _("Tôi là Làng Số, trợ lý tự động của tỉnh Quảng Ngãi."),
                _("Tôi có thể giúp bạn:"),
                _(
                    "- Hỏi về chính sách hỗ trợ của Chương trình MTQG 1719 "
                    "(nhà ở, nước sinh hoạt, học nghề, bảo hiểm y tế...)"
                ),
                _("- Tìm hiểu sản phẩm địa phương (quế Trà Bồng, thổ cẩm, OCOP...)"),
                _("- Nhận thông báo lớp tập huấn: gõ /dangky, ngừng nhận: /ngung"),
                _("- Gửi phản ánh, kiến nghị kèm ảnh hoặc vị trí: /phananh"),
                _("- Cán bộ xã gửi báo cáo: /baocao"),
                _("- Xem hoặc xóa dữ liệu của bạn: /dulieu"),
                _("- Gặp cán bộ: /canbo. Đổi ngôn ngữ: /ngonngu"),
                _("- Hủy việc đang làm (biểu mẫu): /huy"),
                _("Bạn cứ gõ câu hỏi, có dấu hay không dấu đều được."),
            ]
        ),
        buttons=main_menu(ctx),
    )


def contact_text(ctx: Context) -> str:
    c = ctx.settings.contact
    parts = []
    if c.hotline:
        parts.append(ctx._("Điện thoại: {phone}").format(phone=c.hotline))
    if c.office:
        parts.append(ctx._("Địa chỉ: {office}").format(office=c.office))
    if c.email:
        parts.append(ctx._("Thư điện tử: {email}").format(email=c.email))
    if not parts:
        return ctx._("Xin liên hệ UBND xã nơi bạn ở, cán bộ xã sẽ giúp bạn.")
    return ctx._("Bạn có thể liên hệ cán bộ:") + "\n" + "\n".join(parts)


@action("human")
async def human(ctx: Context) -> None:
    """A person: the local contact (needs no data), and a conversation with staff right here
    (bot/handoff: after the "handoff" consent, their messages go to the dashboard's inbox)."""
    if ctx.user is None:
        ctx.say(contact_text(ctx))
        return
    if PURPOSE not in await ctx.load_consents():
        ctx.say(contact_text(ctx))
    await ask_for_person(ctx)


@action("voice")
async def voice(ctx: Context) -> None:
    """A voice message outside any flow: the bot does not understand speech. It says so, and a
    person listens: at once when the villager agreed to talk to staff before (the handoff
    inbox), otherwise it offers the menu and "Gặp cán bộ" (which asks for that consent)."""
    sorry = ctx._("Xin lỗi, tôi chưa nghe hiểu được tin nhắn thoại.")
    ref = voice_ref(ctx)
    if ref is not None and await pass_voice_on(ctx, ref):
        ctx.say(
            sorry + " " + ctx._("Tôi đã chuyển cho cán bộ nghe, cán bộ sẽ trả lời bạn tại đây."),
            buttons=[end_button(ctx)],
        )
        return
    ctx.say(
        sorry
        + " "
        + ctx._(
            'Bạn gõ câu hỏi bằng chữ, chọn một mục dưới đây, hoặc bấm "Gặp cán bộ" để cán bộ '
            "nghe và trả lời bạn."
        ),
        buttons=main_menu(ctx),
    )


@action("out_of_scope")
async def out_of_scope(ctx: Context) -> None:
    ctx.say(
        ctx._(
            "Xin lỗi, việc này tôi không giúp được. Tôi có thể giúp về chính sách hỗ trợ "
            "đồng bào dân tộc thiểu số, sản phẩm địa phương, lớp tập huấn, "
            "phản ánh và báo cáo."
        ),
        buttons=main_menu(ctx),
    )


def closest_topics(ctx: Context, n: int = 3) -> list[Button]:
    items = ctx.content.by_id()
    candidates = [c.item_id for c in ctx.nlu.candidates] if ctx.nlu is not None else []
    return [
        Button(items[i].title_for(ctx.lang)[:60], f"/answer {i}")
        for i in candidates[:n]
        if i in items
    ]


async def no_information(ctx: Context) -> None:
    """A question for the content that no item covers: say so plainly (never another item's
    facts), offer the closest topics and a person, and count the question as a content gap."""
    assert ctx.nlu is not None
    buttons = closest_topics(ctx)
    buttons.append(Button(ctx._("Gặp cán bộ"), "/human"))
    text = ctx._("Hiện tôi chưa có thông tin về việc bạn hỏi.") + "\n" + contact_text(ctx)
    if len(buttons) > 1:
        text += "\n" + ctx._("Các chủ đề gần nhất tôi có:")
    ctx.say(text, buttons=buttons)
    await gaps.record(
        ctx.session,
        ctx.nlu.normalized,
        ctx.lang,
        ctx.msg.channel,
        [c.item_id for c in ctx.nlu.candidates[:3]],
    )


@action("fallback")
async def fallback(ctx: Context) -> None:
    """Not understood (or no answer found): say so, offer the NLU's closest topics and a person."""
    if ctx.nlu is not None and ctx.nlu.gap:
        await no_information(ctx)
        return
    await publish.overlay(ctx)
    buttons = closest_topics(ctx)
    buttons.append(Button(ctx._("Gặp cán bộ"), "/human"))
    text = ctx._("Xin lỗi, tôi chưa hiểu ý bạn.")
    if len(buttons) > 1:
        text += " " + ctx._("Có phải bạn muốn hỏi một trong các điều sau?")
    else:
        text += " " + ctx._("Bạn thử hỏi cách khác, hoặc gặp cán bộ.")
    ctx.say(text, buttons=buttons, voice=await publish.phrase_voice(ctx, "not_understood"))


@action("topic_menu")
async def topic_menu(ctx: Context) -> None:
    """List the topics of one intent as buttons ("/topic ask_policy", from the main menu).

    The turn reports the intent listed, or "help" when it has no topics (the help menu instead).
    """
    intent, _, page = (ctx.arg or "ask_policy").partition(" ")
    every = [i for i in ctx.content.items if i.intent == intent]
    ctx.turn.intent = intent if every else "help"
    if not every:
        await help_menu(ctx)
        return
    first = featured(ctx.content.root, intent, {i.id for i in every})
    rest = [i for i in every if i.id not in first]
    # "/topic ask_policy" shows the featured topics; "/topic ask_policy more 2" the second page
    # of the others, 10 a page, each page ending with "more" while some are left.
    word, _, number = page.partition(" ")
    n = int(number) if word == "more" and number.isdigit() and int(number) > 0 else 1
    if word == "more" or not first:
        items = rest[(n - 1) * 10 : n * 10]
        left = len(rest) > n * 10
        nxt = f"/topic {intent} more {n + 1}"
    else:
        items = [next(i for i in every if i.id == f) for f in first]
        left, nxt = bool(rest), f"/topic {intent} more"
    buttons = [Button(i.title_for(ctx.lang)[:60], f"/answer {i.id}") for i in items]
    if left:
        buttons.append(Button(ctx._("Xem thêm chủ đề"), nxt))
    ctx.say(ctx._("Chọn một chủ đề, hoặc gõ câu hỏi của bạn:"), buttons=buttons)
