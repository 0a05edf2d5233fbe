"""`GET /voice/<digest>.<ogg|m4a|mp3>`: a translator's recording, for the web chat's <audio>
element and the link Zalo users get.

An approved recording is published content: anyone may fetch it (its name is the SHA-256 of
the file, so it cannot be listed or guessed), cached for a day. A draft (or a sent-back one) is
the translator's personal data: only a web chat session whose user is a translator of its
language (the one who made it, or a reviewer) gets it, never cached; anyone else gets a 404, as
for a name that is no recording at all. Staff listen on the dashboard (bot/staff/pages/
translations.py), which serves drafts to logged-in staff only.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.storage.models import Translator, User
from bot.storage.repositories import voice as repo
from bot.voice.store import FILE_RE, VoiceStore

ROUTE = "/voice/{name}"
TYPES = {"ogg": "audio/ogg", "m4a": "audio/mp4", "mp3": "audio/mpeg"}


def file_response(path, fmt: str, cache: str) -> web.FileResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": TYPES[fmt],
            "Cache-Control": cache,
            "X-Content-Type-Options": "nosniff",
        },
    )


class VoiceFiles:
    def __init__(self, services) -> None:
        self.services = services
        settings = services.settings
        self.store = VoiceStore(settings.path(settings.voice.dir))

    async def get(self, request: web.Request) -> web.StreamResponse:
        m = FILE_RE.match(request.match_info.get("name", ""))
        if m is None:
            raise web.HTTPNotFound(text="Không có bản ghi này.")
        digest, fmt = m.group(1), m.group(2)
        path = self.store.path(digest, fmt)
        if path is None or not path.is_file():
            raise web.HTTPNotFound(text="Không có bản ghi này.")
        async with self.services.sessionmaker() as session:
            rows = await repo.visible(session, digest)
            if any(status == "approved" for status, _lang, _by in rows):
                return file_response(path, fmt, "public, max-age=86400, immutable")
            langs = {lang for status, lang, _by in rows if status in ("draft", "sent_back")}
            if langs and await self._translator_of(request, session, langs):
                return file_response(path, fmt, "private, no-store")
        raise web.HTTPNotFound(text="Không có bản ghi này.")

    async def _translator_of(self, request: web.Request, session, langs: set[str]) -> bool:
        from bot.web.sessions import web_user

        sender = await web_user(request)
        if sender is None:
            return False
        found = await session.scalar(
            select(Translator.id)
            .join(User, User.id == Translator.user_id)
            .where(User.channel == "web", User.external_id == sender, Translator.lang.in_(langs))
            .limit(1)
        )
        return found is not None


def register(app: web.Application, services) -> VoiceFiles:
    files = VoiceFiles(services)
    app.router.add_get(ROUTE, files.get)
    return files
