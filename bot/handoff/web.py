"""The web chat's way to receive staff replies: the page has no push, so it asks.

`GET /api/handoff/replies` gives the session's web user the staff messages queued for them
(replies, the hand back) and marks them sent; the page (bot/web/static/chat.js) asks once when it
loads and, once the conversation with staff has begun on the page, every 15 seconds while it is
visible. Only the session cookie's own user; a request from another site is refused. Not counted
against the address's message allowance (it is not a message).
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.core.services import Services
from bot.storage.repositories import handoff as repo
from bot.web.security import refusal
from bot.web.sessions import web_user

log = logging.getLogger("bot.handoff.web")
ROUTE = "/api/handoff/replies"


def register(app: web.Application, services: Services) -> None:
    async def replies(request: web.Request) -> web.Response:
        if request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site"):
            return refusal(403, "Cross-site requests are refused.")
        sender = await web_user(request)
        if sender is None:
            return refusal(403, "Phiên trò chuyện đã hết hạn, xin tải lại trang.")
        try:
            async with services.writing() as session:
                taken = await repo.take_web_replies(session, sender)
        except Exception as exc:  # the database is away: the page asks again later
            log.warning("web chat: staff replies not handed over error=%s", type(exc).__name__)
            return refusal(503, "Xin thử lại sau.", {"Retry-After": "15"})
        return web.json_response({"replies": taken}, headers={"Cache-Control": "no-store"})

    app.router.add_get(ROUTE, replies)
