"""What villagers get of the translators' work: approved recordings and texts only.

- `for_item(ctx, item_id)`: the approved recording (`Reply.voice` reference) and text of a
  content item in the villager's language, or None (Vietnamese stays).
- `phrases(ctx)`: the approved UI phrases of the villager's language (bot/voice/phrases.py),
  cached per process for `CACHE_SECONDS` (the first minute of every conversation must not cost
  a query per message; an approval shows within that time in every process, at once in the
  one that approved it: `forget`).
- `overlay(ctx)`: the turn's translator, with the approved phrase texts standing in where the
  catalog has no translation (the catalog wins: it is what the export writes them into).

Vietnamese, and a language nothing was approved for, cost nothing: no query is made for `vi`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.i18n import SOURCE_LANGUAGE, Translator
from bot.storage.repositories import voice as repo
from bot.voice import store
from bot.voice.phrases import BY_KEY

if TYPE_CHECKING:
    from bot.core.context import Context

CACHE_SECONDS = 30.0
_cache: dict[tuple[int, str], tuple[float, dict[str, Approved]]] = {}


@dataclass(frozen=True)
class Approved:
    voice: str | None  # a `voice/<digest>` reference, for Reply.voice
    text: str | None


def _approved(row) -> Approved:
    return Approved(store.ref_of(row.audio) if row.audio else None, row.text or None)


async def for_item(ctx: Context, item_id: str) -> Approved | None:
    if ctx.lang == SOURCE_LANGUAGE:
        return None
    row = await repo.approved(ctx.session, ctx.lang, "item", item_id)
    return _approved(row) if row is not None else None


def forget() -> None:
    """Drop the cached phrases (after an approval in this process)."""
    _cache.clear()


async def phrases(ctx: Context) -> dict[str, Approved]:
    """{phrase key: approved} of the turn's language."""
    if ctx.lang == SOURCE_LANGUAGE:
        return {}
    key = (id(ctx.services), ctx.lang)
    hit = _cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now:
        return hit[1]
    rows = await repo.approved_all(ctx.session, ctx.lang, "phrase")
    found = {r.key: _approved(r) for r in rows if r.key in BY_KEY}  # a later approval wins
    _cache[key] = (now + CACHE_SECONDS, found)
    return found


async def phrase_voice(ctx: Context, *keys: str) -> str | None:
    """The approved recording of the first of `keys` that has one (a phrase played). Each
    phrase said to a villager of a minority language is counted (what translators do first)."""
    if ctx.lang == SOURCE_LANGUAGE:
        return None
    for k in keys:
        await repo.count_answer(ctx.session, f"phrase:{k}", ctx.lang)
    found = await phrases(ctx)
    for k in keys:
        a = found.get(k)
        if a is not None and a.voice and BY_KEY[k].voice:
            return a.voice
    return None


class OverlayTranslator(Translator):
    """A language's catalog, with approved phrase texts where the catalog has none."""

    def __init__(self, base: Translator, texts: dict[str, str]) -> None:
        super().__init__(base.lang, base.translations)
        object.__setattr__(self, "texts", texts)  # Translator is a frozen dataclass

    def _(self, message: str) -> str:
        if message in self.texts and not super().has(message):
            return self.texts[message]
        return super()._(message)

    def has(self, message: str) -> bool:
        return message in self.texts or super().has(message)


def braces(text: str) -> str:
    """A translator's literal text safe for str.format (the code formats some phrases)."""
    return text.replace("{", "{{").replace("}", "}}")


async def overlay(ctx: Context) -> None:
    """Let this turn's UI strings use the approved phrase texts (module docstring)."""
    if ctx.lang == SOURCE_LANGUAGE or ctx.t is None or isinstance(ctx.t, OverlayTranslator):
        return
    found = await phrases(ctx)
    texts = {
        p.msgid: (braces(a.text) if "{" in p.msgid else a.text)
        for k, a in found.items()
        if a.text and (p := BY_KEY[k])
    }
    if texts:
        ctx.t = OverlayTranslator(ctx.t, texts)
