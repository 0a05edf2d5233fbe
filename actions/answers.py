"""Answers from content: policy, product and training questions, and how-to items."""

from __future__ import annotations

from actions.conversation import fallback, help_menu, say_untranslated_once
from bot.content import Item
from bot.core import followup
from bot.core.context import Context
from bot.core.registry import action
from bot.messages import Button
from bot.storage.repositories import voice as voice_repo
from bot.voice import publish
from nlu.intents import QUESTION_INTENTS


async def answer_item(ctx: Context, item: Item) -> None:
    """Send an item's answer in the user's language (or Vietnamese, said once), with its source.

    A translator's approved recording of it in the user's language goes as a voice message with
    the text under it, and their approved text stands in for the Vietnamese (bot/voice/); the
    "not in your language yet" note only when there is neither. Every answer is counted
    (`answer_counts`): translators are offered the most asked items first."""
    text, used = item.answer_for(ctx.lang)
    approved = await publish.for_item(ctx, item.id)
    if approved is not None and approved.text and used != ctx.lang:
        text, used = approved.text, ctx.lang
    voice = approved.voice if approved is not None else None
    if used != ctx.lang and voice is None:
        say_untranslated_once(ctx)
    await voice_repo.count_answer(ctx.session, item.id, ctx.lang)
    source = ctx._("Nguồn: {source}").format(source=item.source)
    buttons: list[Button] = []
    if item.intent == "ask_training":
        buttons.append(Button(ctx._("Nhận thông báo lớp học"), "/subscribe"))
    media = item.media.get(ctx.lang) or item.media.get("vi") or {}
    ctx.say(f"{text}\n{source}", buttons=buttons, voice=voice)
    for kind in ("photo", "voice", "document"):
        if kind in media and not (kind == "voice" and voice):
            ctx.say(**{kind: media[kind]})
    ctx.turn.answer_id = item.id
    if item.intent in QUESTION_INTENTS:
        followup.remember(ctx, item.id)  # a short follow-up is read against this answer


async def answer_by_id(ctx: Context, item_id: str) -> None:
    """Answer with one content item; an id that is not (or no longer) there gets the help menu."""
    item = ctx.content.by_id().get(item_id)
    if item is None:
        await help_menu(ctx)
        return
    await answer_item(ctx, item)


@action("answer")
async def answer_chosen(ctx: Context) -> None:
    """A topic chosen from buttons ("/answer <item id>"); the turn reports the item's intent."""
    item = ctx.content.by_id().get(ctx.arg)
    if item is not None:
        ctx.turn.intent = item.intent
    await answer_by_id(ctx, ctx.arg)


@action(*QUESTION_INTENTS)
async def answer_question(ctx: Context) -> None:
    result = ctx.nlu
    if result is not None and result.answer_id:
        await answer_by_id(ctx, result.answer_id)
        return
    await fallback(ctx)
