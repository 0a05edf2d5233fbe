"""A translator's voice message as a recording: the file the media step stored (bot/media:
Telegram voice, Zalo audio, a web chat upload) is converted (bot/voice/audio.py) and kept in the
voice store (bot/voice/store.py); the turn then writes the row (repositories/voice.py).

Who made a recording is kept twice: `made_by` (the user id, for their own /dulieu and erasure)
and `made_by_label` ("hre-3", the translator's row), which is all that exports and pages show.
Erasing a translator (`/xoadulieu`, bot/privacy/erase.py) deletes their drafts and sent-back
recordings with their files (never published: their personal data, no longer needed) and keeps
the approved ones, attributed to the label only: they are the province's published answers, as
an officer's reports stay as official records.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING

from bot.media.store import MediaStore, is_stored_ref
from bot.voice import audio
from bot.voice.store import Kept, VoiceStore

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.messages import IncomingMessage, Media

log = logging.getLogger("bot.voice")

AUDIO_MIME = "audio/"


def voice_store(settings: Settings) -> VoiceStore:
    return VoiceStore(settings.path(settings.voice.dir))


def audio_of(msg: IncomingMessage) -> Media | None:
    """The message's audio as the media step stored it (voice, audio, an audio document)."""
    for m in msg.media:
        mime = (m.mime_type or "").lower()
        if m.kind in ("voice", "audio") or mime.startswith(AUDIO_MIME):
            return m
    return None


def other_file(msg: IncomingMessage) -> bool:
    """A file that is not audio (a photo, a PDF, a video) came instead."""
    return bool(msg.media) and audio_of(msg) is None


async def take(settings: Settings, m: Media) -> Kept:
    """Convert and keep a stored audio file (or find it converted before its turn).
    Raises audio.AudioRefused."""
    if not is_stored_ref(m.ref):
        raise audio.Failed("not stored")
    data = await asyncio.to_thread(MediaStore(settings.path(settings.media.dir)).read, m.ref)
    if data is None:
        raise audio.Failed("stored file gone")
    store = voice_store(settings)
    found = store.kept(hashlib.sha256(data).hexdigest(), settings.voice.web_format)
    if found is not None:
        return found
    converted = await audio.convert(data, m.ref.rsplit(".", 1)[-1], settings.voice)
    await asyncio.to_thread(store.put, converted)
    log.info("voice: a recording of %.1f s converted", converted.duration)
    return Kept(converted.digest, converted.duration, converted.original_ext)


def delete_files(settings: Settings, digests: list[str]) -> int:
    store = voice_store(settings)
    return sum(store.delete(d) for d in digests)
