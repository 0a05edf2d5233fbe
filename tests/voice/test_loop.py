"""The translators' loop in the chat, on SQLite and PostgreSQL: a translator joins with a
language's code, /dich offers the most asked item, a voice message (a generated tone) becomes a
draft with converted files, "nghe lại" plays it, "gửi lại" replaces it, a second translator
approves it with /duyet, and only then a Hrê villager asking that item gets the recording."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import officers
from bot.storage.models import OutboxEntry, Recording, Translator
from bot.voice.store import VoiceStore
from tests.conftest import all_text, message
from tests.voice.conftest import invite, join_translator, loudness, probe, tone, voice_message

HOUSING = "ho tro lam nha bao nhieu tien"


async def rows(services, model, *where):
    async with services.sessionmaker() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


async def villager_asks(pipeline, sender: str):
    return await pipeline.handle(message(HOUSING, sender=sender))


async def test_record_review_and_a_villager_hears_it(pipeline, services, settings) -> None:
    said = await join_translator(pipeline, services, "tr-a")
    assert "Bạn đã là người dịch tiếng Hrê" in said
    assert "Bạn đã là người dịch tiếng Hrê" in await join_translator(pipeline, services, "tr-b")
    (a, b) = await rows(services, Translator)
    assert (a.lang, a.label) == ("hre", f"hre-{a.id}")

    # A Hrê villager asks twice before anything is recorded: Vietnamese, the note once.
    await pipeline.handle(message(payload="/lang hre", sender="v1"))
    first = await villager_asks(pipeline, "v1")
    item_id = first.answer_id
    assert item_id and all(r.voice is None for r in first.replies)
    await villager_asks(pipeline, "v1")

    offer = all_text(await pipeline.handle(message("/dich", sender="tr-a")))
    item = services.content.by_id()[item_id]
    assert f"Cần dịch sang tiếng Hrê: {item.title_for('vi')}" in offer  # the most asked first
    assert item.answer_for("vi")[0] in offer

    turn = await pipeline.handle(voice_message(settings, tone(2, "ogg"), "tr-a"))
    assert "Đã nhận bản ghi (2 giây), chờ duyệt." in all_text(turn)
    (rec,) = await rows(services, Recording)
    assert (rec.status, rec.kind, rec.key, rec.lang) == ("draft", "item", item_id, "hre")
    assert rec.made_by_label == a.label
    store = VoiceStore(settings.path(settings.voice.dir))
    ogg, m4a = store.path(rec.audio, "ogg"), store.path(rec.audio, "m4a")
    assert probe(ogg)["codec"] == "opus" and probe(m4a)["codec"] == "aac"
    assert 1.8 <= probe(ogg)["duration"] <= 2.3 and 1.8 <= probe(m4a)["duration"] <= 2.3
    assert abs(loudness(ogg) - settings.voice.loudness_lufs) < 1.5  # the tone was -26 LUFS or so
    assert store.original(rec.audio).read_bytes() == tone(2, "ogg")  # the original kept

    replay = await pipeline.handle(message("nghe lại", sender="tr-a"))
    assert [r.voice for r in replay.replies if r.voice] == [f"voice/{rec.audio}"]

    await pipeline.handle(message("gửi lại", sender="tr-a"))
    turn = await pipeline.handle(voice_message(settings, tone(1, "m4a", freq=660), "tr-a"))
    assert "Đã nhận bản ghi (1 giây)" in all_text(turn)
    (redone,) = await rows(services, Recording)
    assert redone.id == rec.id and redone.audio != rec.audio and redone.original_ext == "m4a"
    assert not ogg.exists()  # the replaced recording's files are gone
    await pipeline.handle(message("[hre test text]", sender="tr-a"))  # a text version

    # A draft never reaches villagers.
    before = await villager_asks(pipeline, "v1")
    assert all(r.voice is None for r in before.replies)

    # The translator cannot review their own; the other one can.
    assert "Không còn bản ghi nào chờ duyệt" in all_text(
        await pipeline.handle(message("/duyet", sender="tr-a"))
    )
    shown = await pipeline.handle(message("/duyet", sender="tr-b"))
    assert [r.voice for r in shown.replies if r.voice] == [f"voice/{redone.audio}"]
    assert "Bản chữ: [hre test text]" in all_text(shown)
    done = await pipeline.handle(message("duyệt", sender="tr-b"))
    assert "Đã duyệt." in all_text(done)
    (approved,) = await rows(services, Recording)
    assert approved.status == "approved" and approved.reviewed_label == b.label
    told = await rows(services, OutboxEntry, OutboxEntry.source == "voice")
    assert [t.recipient for t in told] == ["tr-a"]

    after = await villager_asks(pipeline, "v1")
    voiced = [r for r in after.replies if r.voice]
    assert [r.voice for r in voiced] == [f"voice/{approved.audio}"]
    assert "[hre test text]" in voiced[0].text  # the approved text, the source under it
    assert "Chưa có bản tiếng" not in all_text(after)
    vi = await pipeline.handle(message(HOUSING, sender="v-vi"))  # Vietnamese: as before
    assert all(r.voice is None for r in vi.replies)


async def test_sent_back_goes_to_its_translator_first(pipeline, services, settings) -> None:
    await join_translator(pipeline, services, "tr-a")
    await join_translator(pipeline, services, "tr-b")
    await pipeline.handle(message("/dich", sender="tr-a"))
    await pipeline.handle(voice_message(settings, tone(1, "ogg"), "tr-a"))
    await pipeline.handle(message("/duyet", sender="tr-b"))
    back = await pipeline.handle(message("trả lại đọc chậm hơn", sender="tr-b"))
    assert "Đã trả lại cho người dịch" in all_text(back)
    (rec,) = await rows(services, Recording)
    assert (rec.status, rec.comment) == ("sent_back", "đọc chậm hơn")
    await pipeline.handle(message(payload="/lang hre", sender="v2"))
    welcome = await pipeline.handle(message("xin chao", sender="v2"))
    assert all(r.voice is None for r in welcome.replies)
    again = all_text(await pipeline.handle(message("/dich", sender="tr-a")))
    assert "Người duyệt đã trả lại bản trước: đọc chậm hơn" in again


async def test_refused_recordings_get_a_short_answer(pipeline, services, settings) -> None:
    await join_translator(pipeline, services, "tr-a")
    await pipeline.handle(message("/dich", sender="tr-a"))
    long = await pipeline.handle(voice_message(settings, tone(4, "ogg"), "tr-a"))
    assert "Bản ghi dài 4 giây, quá 3 giây. Xin ghi ngắn hơn rồi gửi lại." in all_text(long)
    fake = b"OggS" + b"\x00" * 24 + b"OpusHead" + b"\x01" * 200  # an OGG header, no audio
    bad = await pipeline.handle(voice_message(settings, fake, "tr-a"))
    assert "Tệp này không phải âm thanh." in all_text(bad)
    from bot.messages import Media

    pdf = message(sender="tr-a", media=(Media("document", "file-id-1", "application/pdf", 10),))
    assert "Tệp này không phải âm thanh." in all_text(await pipeline.handle(pdf))
    assert await rows(services, Recording) == []
    # Not a translator: told how to become one.
    assert "Phần này dành cho người dịch" in all_text(
        await pipeline.handle(message("/dich", sender="someone"))
    )


async def test_translator_codes_are_bound_to_a_language(pipeline, services) -> None:
    code = await invite(services, "sed")
    said = all_text(await pipeline.handle(message(f"/macanbo {code}", sender="t-s")))
    assert "Bạn có đồng ý không?" in said  # typed as an officer's: still a translator's code
    said = all_text(await pipeline.handle(message(payload="/consent yes", sender="t-s")))
    assert "Bạn đã là người dịch tiếng Ca Dong" in said
    (t,) = await rows(services, Translator)
    assert t.lang == "sed"
    async with services.sessionmaker() as s:
        made = await officers.make_invite(s, services.settings, "qng.ba_dong", timedelta(days=1))
        await s.commit()
    said = all_text(await pipeline.handle(message(f"/madich {made.code}", sender="t-o")))
    assert "Đây là mã mời cán bộ: gõ /macanbo và mã." in said
    again = all_text(await pipeline.handle(message(f"/madich {code}", sender="t-x")))
    assert "Mã này đã được dùng rồi" in again
    with pytest.raises(ValueError):
        async with services.sessionmaker() as s:
            await officers.make_invite(
                s, services.settings, "", timedelta(days=1), role="translator"
            )
    with pytest.raises(ValueError):
        async with services.sessionmaker() as s:
            await officers.make_invite(
                s, services.settings, "", timedelta(days=1), role="translator", lang="vi"
            )
