"""`POST /api/uploads`: a photo or an audio file from the web chat, as one chat message.

The body is the file itself (`fetch(url, {body: file})`), its `Content-Type` the file's type
(image/jpeg, image/png, image/webp, or an audio type); `message_id` (8-64 of A-Z a-z 0-9 _ -)
and `lang` are in the query string. The same checks as `POST /api/messages`, in the same order:
same origin and the per-address rate limit (bot/web/security.py; image and audio types are not
CORS-safelisted, so a page elsewhere cannot post one without a preflight, which is never
granted), the session cookie (bot/web/sessions.py: the sender is the session's web user, never
the client's choice), then the body read capped while it streams (`read_capped`; the cap of
the type, `media.max_photo_bytes` or `media.max_audio_bytes`: 413 as soon as it is passed,
never read whole), checked by content and cleaned (bot/media/checks.py: 400 for a file that is
not what it claims), and stored by hash. Then the message goes to the turn with the stored
reference, like a photo from Telegram or Zalo after the media step, and the answer is the
turn's replies, as from `/api/messages`. Every refusal is a short JSON `{"error": ...}` saying
what to send instead.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web

from bot.channels.http import BadBody, read_capped
from bot.channels.web import converse
from bot.i18n import LANGUAGES
from bot.inbound.worker import InboundWorker
from bot.media.checks import MediaRefused
from bot.media.download import MediaStep, problem
from bot.messages import IncomingMessage, Media
from bot.web.security import ApiGuard, refusal
from bot.web.sessions import web_user

log = logging.getLogger("bot.media.web")

ROUTE = "/api/uploads"
ID_RE = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
AUDIO_TYPES = (
    "audio/ogg",
    "audio/opus",
    "audio/mpeg",
    "audio/mp3",
    "audio/mp4",
    "audio/x-m4a",
    "audio/m4a",
    "audio/aac",
    "audio/amr",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
    "audio/webm",
)
TYPES = frozenset(IMAGE_TYPES + AUDIO_TYPES)
WRONG_TYPE = (
    "Chỉ gửi được ảnh (JPEG, PNG, WebP) hoặc âm thanh (OGG, MP3, M4A, AMR, WAV). "
    "Send a photo or an audio file, with its type as Content-Type."
)
BAD_QUERY = (
    "Gửi kèm ?message_id= (8-64 chữ, số, - hoặc _). Add ?message_id=8-64 of A-Z a-z 0-9 _ -."
)
NO_SESSION = (
    "Phiên trò chuyện đã hết hạn (hoặc trình duyệt chặn cookie), xin tải lại trang. "
    "Your chat session is missing or expired (or cookies are blocked): reload the page."
)


class Uploads:
    def __init__(self, worker: InboundWorker) -> None:
        self.worker = worker
        settings = worker.services.settings
        self.step = worker.media or MediaStep.from_settings(settings)
        self.guard = ApiGuard(settings)

    async def receive(self, request: web.Request) -> web.Response:
        refused = self.guard.refuse(request, TYPES, WRONG_TYPE)
        if refused is not None:
            return refused
        sender = await web_user(request)
        if sender is None:
            return refusal(403, NO_SESSION)
        message_id = request.query.get("message_id", "")
        lang = request.query.get("lang") or None
        if not ID_RE.fullmatch(message_id):
            return refusal(400, BAD_QUERY)
        if lang is not None and lang not in LANGUAGES:
            return refusal(400, f"`lang` must be one of {', '.join(LANGUAGES)}.")
        want = "image" if request.content_type.startswith("image/") else "audio"
        cap = self.step.cap(want)
        try:
            data = await read_capped(request, cap)
            ref, mime, size = await self.step.store_bytes(data, want)
        except BadBody:
            return refusal(413, str(problem("too_large", want, cap)))
        except MediaRefused as exc:
            log.info("web chat: an upload was refused (%s)", exc.code)
            status = 413 if exc.code == "too_large" else 400
            return refusal(status, str(problem(exc.code, want, cap)))
        msg = IncomingMessage(
            channel="web",
            sender_id=sender,
            message_id=message_id,
            media=(Media("photo" if want == "image" else "audio", ref, mime, size),),
            locale_hint=lang,
        )
        return await converse(self.worker, msg)


def register(app: web.Application, worker: InboundWorker) -> Uploads:
    uploads = Uploads(worker)
    app.router.add_post(ROUTE, uploads.receive)
    return uploads
