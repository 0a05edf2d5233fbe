"""Coverage per language: which items and UI phrases have approved audio, approved text, or
neither, and what to ask translators for next.

"Most asked" is the `answer_counts` table (bot/storage/repositories/voice.py): every answer
of a content item adds one, per language, in the answering turn, and every UI phrase said to a
villager of a minority language adds one to `phrase:<key>` (nothing else counted answers per
item: `content_gaps` counts questions with no item, the outbox keeps no item id). Entries are
ordered by how often they were said in the translator's language, then in all languages
together (what villagers ask is much the same whatever their language), then phrases in the
order a villager meets them, then items in content order.

A text or recording in the content files (`answer.hre`, `media.hre.voice`, written through
git) counts as approved too: it is what villagers get.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.i18n import LANGUAGES, SOURCE_LANGUAGE
from bot.storage.repositories import voice as repo
from bot.voice.phrases import PHRASES

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.content import Content

LANGS = tuple(code for code in LANGUAGES if code != SOURCE_LANGUAGE)


@dataclass
class Entry:
    kind: str  # item | phrase
    key: str
    title: str
    vietnamese: str
    asked: int
    voice_wanted: bool = True
    audio: bool = False  # approved audio
    text: bool = False  # approved text (or in the content file / catalog)
    draft: bool = False  # a draft waits for review

    @property
    def neither(self) -> bool:
        return not (self.audio or self.text)


@dataclass
class Summary:
    lang: str
    name: str
    total: int
    audio: int
    text: int
    neither: int
    drafts: int
    translators: int


async def entries(session: AsyncSession, content: Content, lang: str, catalog=None) -> list:
    """Every item and phrase of `lang` with what it has, phrases first, then most asked.
    `catalog`: the language's Translator (a phrase translated in the catalog has text)."""
    counts = await repo.answer_counts(session)
    here = await repo.answer_counts(session, lang)
    have: dict[tuple[str, str], tuple[bool, bool]] = {}
    for lg, k, key, a, t in await repo.coverage_rows(session):
        if lg == lang:
            old = have.get((k, key), (False, False))
            have[(k, key)] = (old[0] or a, old[1] or t)
    waiting = await repo.keys_with(session, lang, ("draft",))
    ranked: list[tuple[int, int, int, Entry]] = []
    for order, p in enumerate(PHRASES):
        e = Entry("phrase", p.key, p.shown(lang), p.shown(lang), 0, p.voice)
        counted = f"phrase:{p.key}"
        e.asked = counts.get(counted, 0)
        a, t = _merge(have, "phrase", p.key)
        e.audio, e.text = a, t or bool(catalog is not None and catalog.has(p.msgid))
        e.draft = ("phrase", p.key) in waiting
        ranked.append((-here.get(counted, 0), -e.asked, order, e))
    for order, item in enumerate(content.items, start=len(PHRASES)):
        e = Entry("item", item.id, item.title_for("vi"), item.answer_for("vi")[0], 0)
        e.asked = counts.get(item.id, 0)
        a, t = _merge(have, "item", item.id)
        e.audio = a or bool((item.media.get(lang) or {}).get("voice"))
        e.text = t or bool(item.answer.get(lang))
        e.draft = ("item", item.id) in waiting
        ranked.append((-here.get(item.id, 0), -e.asked, order, e))
    return [e for *_k, e in sorted(ranked, key=lambda x: x[:3])]


def _merge(have: dict, kind: str, key: str) -> tuple[bool, bool]:
    return have.get((kind, key), (False, False))


def next_entry(
    found: list[Entry], open_keys: Iterable[tuple[str, str]], skip: Iterable[str] = ()
) -> Entry | None:
    """The first entry with neither an approved nor a waiting recording or text, not skipped."""
    taken, skipped = set(open_keys), set(skip)
    for e in found:
        if (e.kind, e.key) in taken or f"{e.kind}:{e.key}" in skipped:
            continue
        if e.audio or (e.text and not e.voice_wanted):
            continue
        return e
    return None


async def summaries(session: AsyncSession, content: Content, catalogs=None) -> list[Summary]:
    out = []
    for lang in LANGS:
        t = catalogs.for_lang(lang) if catalogs is not None else None
        found = await entries(session, content, lang, t)
        out.append(
            Summary(
                lang,
                LANGUAGES[lang],
                len(found),
                sum(1 for e in found if e.audio),
                sum(1 for e in found if e.text),
                sum(1 for e in found if e.neither),
                sum(1 for e in found if e.draft),
                await repo.count_translators(session, lang),
            )
        )
    return out
