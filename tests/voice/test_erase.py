"""Erasing a translator (/xoadulieu): their drafts and sent-back recordings go with their files
(never published: only their personal data); the approved ones stay, attributed to the
translator's label alone, and villagers keep hearing them."""

from __future__ import annotations

from sqlalchemy import select

from bot.privacy import erase
from bot.storage.models import Recording, Translator
from bot.voice.store import VoiceStore
from tests.conftest import message
from tests.voice.conftest import join_translator, tone, voice_message

HOUSING = "ho tro lam nha bao nhieu tien"


async def test_erasing_a_translator_keeps_what_was_published(pipeline, services, settings):
    await join_translator(pipeline, services, "tr-a")
    await join_translator(pipeline, services, "tr-b")
    await pipeline.handle(message(payload="/lang hre", sender="v1"))
    for _ in range(2):
        await pipeline.handle(message(HOUSING, sender="v1"))
    await pipeline.handle(message("/dich", sender="tr-a"))
    await pipeline.handle(voice_message(settings, tone(1, "ogg"), "tr-a"))
    await pipeline.handle(message("/duyet", sender="tr-b"))
    await pipeline.handle(message("duyệt", sender="tr-b"))
    await pipeline.handle(message("/dich", sender="tr-a"))  # the next one: left as a draft
    await pipeline.handle(voice_message(settings, tone(1, "ogg", freq=550), "tr-a"))
    async with services.sessionmaker() as s:
        approved, draft = (await s.execute(select(Recording).order_by(Recording.id))).scalars()
    assert (approved.status, draft.status) == ("approved", "draft")
    store = VoiceStore(settings.path(settings.voice.dir))

    await pipeline.handle(message("/xoadulieu", sender="tr-a"))
    await pipeline.handle(message(payload="/delete yes", sender="tr-a"))
    await erase.cancel_pending()  # its replies are never sent here: no need to wait
    async with services.sessionmaker() as s:
        left = list((await s.execute(select(Recording))).scalars())
        translators = list((await s.execute(select(Translator.label))).scalars())
    assert [(r.id, r.status, r.made_by, r.made_by_label) for r in left] == [
        (approved.id, "approved", None, approved.made_by_label)
    ]
    assert translators == [t for t in translators if t != approved.made_by_label]
    assert len(translators) == 1  # tr-b's
    assert store.path(draft.audio, "ogg") is not None
    assert not store.path(draft.audio, "ogg").exists()  # the draft's files are gone
    assert store.path(approved.audio, "ogg").exists()
    heard = await pipeline.handle(message(HOUSING, sender="v1"))
    assert [r.voice for r in heard.replies if r.voice] == [f"voice/{approved.audio}"]
