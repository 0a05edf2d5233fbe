"""The media step (bot/media/download.py: it runs before the turn, outside any database
transaction), plus: a translator's voice message is converted right there.

Converting takes from a fraction of a second to several seconds (docs/benchmarks.md, "voice");
done in the turn it would hold the turn's transaction that long, and on SQLite every other
turn with it (one writer: bot/storage/gate.py). Here it holds nothing: the files go to the voice
store (bot/voice/store.py) under the recording's digest, and the turn (actions/translate.py,
bot/voice/recordings.take) finds them and only writes the row. Only the audio of a person who
is a translator is converted (a read of the translators table, no transaction held): a
villager's voice message is theirs and is never copied into the voice store. A conversion that
fails here is tried again in the turn, which then says what is wrong (too long, not audio).
Web chat uploads skip this step (bot/media/web.py stores them itself): they are converted in
the turn.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from bot.media.download import MediaStep
from bot.media.store import is_stored_ref
from bot.storage.models import Translator, User
from bot.voice import audio, recordings

if TYPE_CHECKING:
    from bot.core.services import Services
    from bot.messages import IncomingMessage

log = logging.getLogger("bot.voice")


class VoiceMediaStep(MediaStep):
    def __init__(self, services: Services, **kw: Any) -> None:
        settings = services.settings
        super().__init__(settings.media, settings.path(settings.media.dir), **kw)
        self.services = services

    async def prepare(self, adapter: Any, msg: IncomingMessage) -> IncomingMessage:
        out = await super().prepare(adapter, msg)
        m = recordings.audio_of(out)
        if out.media_problem or m is None or not is_stored_ref(m.ref):
            return out
        try:
            if await self.is_translator(out.channel, out.sender_id):
                await recordings.take(self.services.settings, m)
        except audio.AudioRefused:
            pass  # the turn converts again and says why
        except Exception as exc:  # the database away: the turn will do it
            log.warning("voice: no conversion before the turn (%s)", type(exc).__name__)
        return out

    async def is_translator(self, channel: str, sender_id: str) -> bool:
        async with self.services.sessionmaker() as session:
            found = await session.scalar(
                select(Translator.id)
                .join(User, User.id == Translator.user_id)
                .where(User.channel == channel, User.external_id == sender_id)
                .limit(1)
            )
        return found is not None
