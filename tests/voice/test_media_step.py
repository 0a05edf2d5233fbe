"""A translator's voice message is converted in the media step, before its turn and outside
any transaction, so the turn only writes the row; a villager's voice message is never copied
into the voice store."""

from __future__ import annotations

import hashlib

from bot.messages import IncomingMessage, Media
from bot.voice import audio
from bot.voice.media_step import VoiceMediaStep
from bot.voice.store import VoiceStore
from tests.conftest import all_text, message
from tests.voice.conftest import join_translator, tone


class Adapter:
    """A channel's `fetch_media`: the bytes of the platform file."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def fetch_media(self, media: Media, max_bytes: int) -> bytes:
        return self.data


def voice(sender: str, n: int) -> IncomingMessage:
    return IncomingMessage(
        channel="web",
        sender_id=sender,
        message_id=f"vm{n}",
        media=(Media("voice", f"platform-file-{n}", "audio/ogg", None),),
    )


async def test_converted_before_the_turn_for_translators_only(
    pipeline, services, settings, monkeypatch
) -> None:
    await join_translator(pipeline, services, "tr-a")
    await pipeline.handle(message("/dich", sender="tr-a"))
    step = VoiceMediaStep(services)
    store = VoiceStore(settings.path(settings.voice.dir))
    data = tone(2, "ogg", freq=330)
    digest = hashlib.sha256(data).hexdigest()

    villager = await step.prepare(Adapter(data), voice("v-1", 1))
    assert villager.media[0].ref.startswith("media/")  # stored by the media step, as before
    assert store.kept(digest, "m4a") is None and not store.root.exists()

    ready = await step.prepare(Adapter(data), voice("tr-a", 2))
    kept = store.kept(digest, "m4a")
    assert kept is not None and 1.8 <= kept.duration <= 2.3

    async def no_conversion(*_a, **_k):
        raise AssertionError("converted again in the turn")

    monkeypatch.setattr(audio, "convert", no_conversion)
    turn = await pipeline.handle(ready)
    assert "Đã nhận bản ghi (2 giây), chờ duyệt." in all_text(turn)
