"""The web chat: a phone-sized page served by the bot itself, and its JSON endpoint.

The page keeps a random client id and the chosen language in the browser's localStorage and sends
them with each message; nothing is loaded from outside the app.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from bot.core.pipeline import TurnFailed
from bot.i18n import LANGUAGES
from bot.inbound.worker import InboundWorker
from bot.messages import IncomingMessage

CHANNEL = "web"
STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_TEXT = 2000
MAX_BODY = 16 * 1024
ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


class WebChat:
    """Routes: GET / (the page), GET /static/*, POST /api/messages."""

    name = CHANNEL

    def __init__(self, worker: InboundWorker, media_dir: Path | None = None) -> None:
        self.worker = worker
        self.media_dir = media_dir

    def register(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_static("/static/", STATIC, show_index=False)
        if self.media_dir is not None and self.media_dir.is_dir():
            app.router.add_static("/media/", self.media_dir, show_index=False)
        app.router.add_post("/api/messages", self.receive)

    async def page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def receive(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return bad_request("Tin nhắn quá dài. Message too large.")
        try:
            body = await request.json()
        except ValueError:
            return bad_request("Send JSON: {sender, message_id, text or payload, lang}.")
        if not isinstance(body, dict):
            return bad_request("Send a JSON object: {sender, message_id, text or payload, lang}.")
        sender, message_id = body.get("sender"), body.get("message_id")
        text, payload, lang = body.get("text") or "", body.get("payload"), body.get("lang")
        if not isinstance(sender, str) or not ID_RE.match(sender):
            return bad_request("`sender` must be 8-64 letters, digits, - or _.")
        if not isinstance(message_id, str) or not ID_RE.match(message_id):
            return bad_request("`message_id` must be 8-64 letters, digits, - or _.")
        if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
            return bad_request("`text` and `payload` must be strings.")
        if len(text) > MAX_TEXT:
            return bad_request(f"Tin nhắn dài quá {MAX_TEXT} ký tự, xin gửi ngắn hơn.")
        if payload is not None and len(payload.encode()) > 64:
            return bad_request("`payload` is at most 64 bytes.")
        if lang is not None and lang not in LANGUAGES:
            return bad_request(f"`lang` must be one of {', '.join(LANGUAGES)}.")
        if not text.strip() and not payload:
            return bad_request("Tin nhắn trống. Write something.")
        msg = IncomingMessage(
            channel=CHANNEL,
            sender_id=sender,
            message_id=message_id,
            text=text,
            payload=payload,
            locale_hint=lang,
        )
        try:
            turn = await self.worker.converse(msg)
        except TurnFailed:
            return web.json_response(
                {"error": "Xin lỗi, có lỗi khi xử lý. Gửi lại sau ít phút. Please try again."},
                status=503,
            )
        return web.json_response(
            {
                "replies": [r.as_dict() for r in turn.replies],
                "duplicate": turn.duplicate,
                "lang": turn.lang,
            }
        )
