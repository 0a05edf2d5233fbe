"""The web chat: a phone-sized page served by the bot itself, and its JSON endpoint.

The server picks who the visitor is: loading the page gives the browser a web user id in an
encrypted, HttpOnly session cookie (bot/web/sessions.py), and `POST /api/messages` acts for the
id in that cookie only. The page keeps nothing but the chosen language (localStorage); nothing is
loaded from outside the app.

`POST /api/messages` takes `{"message_id", "text" or "payload", "lang"?}` as JSON. In front of
it (bot/web/security.py): the per-address rate limit (429), same-origin only (403), JSON only
(415); then the session cookie (403); then the body, read capped while it streams, depth-bounded
and valid Unicode (bot/channels/http.py; 413/400); then each field by type and size (400, saying
what to send). A turn that cannot be done now (database down) is a 503 "try again".
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.channels.http import BadBody, read_json
from bot.core.pipeline import TurnFailed
from bot.i18n import LANGUAGES
from bot.inbound.worker import InboundWorker
from bot.messages import IncomingMessage
from bot.web.security import ApiGuard, refusal
from bot.web.sessions import ensure_web_user, web_user

log = logging.getLogger("bot.channels.web")

CHANNEL = "web"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_TEXT = 2000
MAX_PAYLOAD_BYTES = 64
MAX_BODY = 16 * 1024
ID_RE = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")
SHAPE = '{"message_id": "8-64 of A-Z a-z 0-9 _ -", "text": "...", "lang": "vi"}'
NO_SESSION = (
    "Phiên trò chuyện đã hết hạn (hoặc trình duyệt chặn cookie), xin tải lại trang. "
    "Your chat session is missing or expired (or cookies are blocked): reload the page."
)


async def converse(worker: InboundWorker, msg: IncomingMessage) -> web.Response:
    """The turn for a web chat message (typed, or an upload: bot/media/web.py) as the JSON answer
    the page reads, or a 503 when it could not be handled or handed over."""
    try:
        turn = await worker.converse(msg)
    except Exception as exc:  # TurnFailed, or the database gone between the turn and after
        if not isinstance(exc, TurnFailed):
            log.warning("web chat: reply not handed over error=%s", type(exc).__name__)
        return refusal(503, "Xin lỗi, có lỗi khi xử lý. Gửi lại sau ít phút. Please try again.")
    return web.json_response(
        {
            "replies": [web_reply(r, worker.services.settings) for r in turn.replies],
            "duplicate": turn.duplicate,
            "lang": turn.lang,
        },
        headers={"Cache-Control": "no-store"},
    )


def web_reply(reply, settings) -> dict:
    """A reply as the page reads it; a translator's recording as its URL under /voice/, in the
    format every browser plays (`voice.web_format`), for an <audio> element."""
    from bot.voice import store as voice_store

    out = reply.as_dict()
    digest = voice_store.digest_of(reply.voice)
    if digest is not None:
        out["voice"] = f"/voice/{digest}.{settings.voice.web_format}"
    return out


def bad_request(message: str, status: int = 400) -> web.Response:
    return refusal(status, message)


def read_message(body: Any) -> tuple[str, str, str | None, str | None] | str:
    """(message_id, text, payload, lang) from a parsed body, or what is wrong with it."""
    if not isinstance(body, dict):
        return f"Send a JSON object: {SHAPE}."
    message_id = body.get("message_id")
    text, payload, lang = body.get("text"), body.get("payload"), body.get("lang")
    if not isinstance(message_id, str) or not ID_RE.fullmatch(message_id):
        return "`message_id` must be 8-64 letters, digits, - or _."
    if text is not None and not isinstance(text, str):
        return '`text` must be a string, e.g. "text": "xin chào".'
    if payload is not None and not isinstance(payload, str):
        return '`payload` must be a string, e.g. "payload": "/help".'
    if lang is not None and (not isinstance(lang, str) or lang not in LANGUAGES):
        return f"`lang` must be one of {', '.join(LANGUAGES)}."
    text = text or ""
    if len(text) > MAX_TEXT:
        return f"Tin nhắn dài quá {MAX_TEXT} ký tự, xin gửi ngắn hơn. At most {MAX_TEXT} chars."
    if payload is not None and len(payload.encode()) > MAX_PAYLOAD_BYTES:
        return f"`payload` is at most {MAX_PAYLOAD_BYTES} bytes."
    if not text.strip() and not payload:
        return f"Tin nhắn trống. Write something: {SHAPE}."
    return message_id, text, payload or None, lang


class WebChat:
    """Routes: GET / (the page, and the session cookie), GET /static/*, POST /api/messages."""

    name = CHANNEL

    def __init__(self, worker: InboundWorker, media_dir: Path | None = None) -> None:
        self.worker = worker
        self.media_dir = media_dir
        self.guard = ApiGuard(worker.services.settings)
        self._page = (STATIC / "index.html").read_bytes()

    def register(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_static("/static/", STATIC, show_index=False)
        if self.media_dir is not None and self.media_dir.is_dir():
            app.router.add_static("/media/", self.media_dir, show_index=False)
        app.router.add_post("/api/messages", self.receive)

    async def page(self, request: web.Request) -> web.Response:
        await ensure_web_user(request)  # the session middleware sets the cookie on this response
        return web.Response(
            body=self._page,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def receive(self, request: web.Request) -> web.Response:
        refused = self.guard.refuse(request)
        if refused is not None:
            return refused
        sender = await web_user(request)
        if sender is None:
            return bad_request(NO_SESSION, status=403)
        try:
            body = await read_json(request, MAX_BODY)
        except BadBody as exc:
            if exc.status == 413:
                return bad_request(f"Tin nhắn quá dài. Message too large ({exc.message}).", 413)
            return bad_request(f"Send JSON ({exc.message}): {SHAPE}.")
        fields = read_message(body)
        if isinstance(fields, str):
            return bad_request(fields)
        message_id, text, payload, lang = fields
        msg = IncomingMessage(
            channel=CHANNEL,
            sender_id=sender,
            message_id=message_id,
            text=text,
            payload=payload,
            locale_hint=lang,
        )
        return await converse(self.worker, msg)
