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


async def test_a_translators_recordings_are_in_their_data_export(pipeline, services, settings):
    """/dulieu shows a translator what is kept of their work: languages and recordings."""
    import json

    await join_translator(pipeline, services, "tr-c")
    await pipeline.handle(message("/dich", sender="tr-c"))
    await pipeline.handle(voice_message(settings, tone(1, "ogg"), "tr-c"))
    turn = await pipeline.handle(message("/dulieu", sender="tr-c"))
    refs = [r.document for r in turn.replies if r.document]
    assert len(refs) == 2, [r.text for r in turn.replies]
    exports = settings.path(settings.privacy.export_dir)
    files = [p for p in exports.rglob("*") if p.is_file()]
    data = json.loads(next(p for p in files if p.suffix == ".json").read_text())
    recs = data["translations"]["recordings"]
    assert [(r["lang"], r["status"], r["has_audio"]) for r in recs] == [("hre", "draft", True)]
    text = next(p for p in files if p.suffix == ".txt").read_text()
    assert "bản ghi âm (draft)" in text


async def test_the_retention_purge_takes_an_inactive_translators_drafts(
    pipeline, services, settings
):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from bot.privacy import retention
    from bot.storage.models import User

    await join_translator(pipeline, services, "tr-d")
    await pipeline.handle(message("/dich", sender="tr-d"))
    await pipeline.handle(voice_message(settings, tone(1, "ogg"), "tr-d"))
    async with services.sessionmaker() as s:
        (draft,) = (await s.execute(select(Recording))).scalars()
        old = datetime.now(UTC) - timedelta(days=settings.privacy.retention_days + 1)
        await s.execute(update(User).where(User.external_id == "tr-d").values(last_seen_at=old))
        await s.commit()
    store = VoiceStore(settings.path(settings.voice.dir))
    assert store.path(draft.audio, "ogg").exists()
    report = await retention.purge(services.sessionmaker, settings)
    assert report.users == 1
    async with services.sessionmaker() as s:
        assert list((await s.execute(select(Recording))).scalars()) == []
    assert not store.path(draft.audio, "ogg").exists()
