"""The handoff inbox: villagers who asked for a person, newest message first, with their last
messages; a conversation's page with every message, a reply form and "hand back".

A reply is refused, with the reason on the page, when the platform would not deliver it (Zalo
OA's reply window, a user who blocked the bot, the console): nothing is stored or queued then
(bot/handoff/staff.py). A commune account sees only conversations of its area's subtree; a
villager whose area is not known is seen by province staff and admins. Every reply and hand
back is audited (the reply's length, not its text).
"""

from __future__ import annotations

from datetime import datetime

import aiohttp_jinja2
from aiohttp import web

from bot.areas import areas_of
from bot.handoff import staff as handoff_staff
from bot.media.store import MediaStore
from bot.staff import audit
from bot.staff.auth import check_csrf, current_staff, require_area, services_of
from bot.storage.models import Handoff, User
from bot.storage.repositories import handoff as repo

routes = web.RouteTableDef()
NAV = ("Gặp cán bộ", "/staff/handoff", 30, None)


async def nav_count(request: web.Request, staff) -> int:
    """Conversations in this account's area waiting for a person, beside the link on every page."""
    async with services_of(request).sessionmaker() as session:
        return await repo.count_waiting(session, staff.area_clause(Handoff.area_code))


PAGE = 20
CHANNELS = {"telegram": "Telegram", "zalo": "Zalo", "web": "Web", "console": "Dòng lệnh"}
LANGS = {"vi": "Tiếng Việt", "hre": "Hrê", "cua": "Cor", "sed": "Ca Dong"}
DELIVERY = {
    "queued": "đang chờ gửi",
    "sending": "đang gửi",
    "sent": "đã gửi",
    "delivered": "đã đến máy",
    "read": "đã xem",
    "failed": "không gửi được",
    "undelivered": "không gửi",
}


def _area_name(request: web.Request, code: str | None) -> str:
    if not code:
        return "chưa rõ địa bàn"
    area = areas_of(services_of(request).content).get(code)
    return area.name if area is not None else code


def _before(request: web.Request) -> tuple[datetime, int] | None:
    raw = request.query.get("before", "")
    at, _, hid = raw.partition("_")
    if not hid.isdigit() or len(hid) > 12:
        return None
    try:
        return datetime.fromisoformat(at), int(hid)
    except ValueError:
        return None


@routes.get("/staff/handoff")
async def inbox(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    status = request.query.get("status", repo.OPEN)
    if status not in (repo.OPEN, repo.CLOSED):
        status = repo.OPEN
    before = _before(request)
    services = services_of(request)
    async with services.sessionmaker() as session:
        rows = await repo.inbox(
            session,
            status=status,
            area_clause=staff.area_clause(Handoff.area_code),
            before=before,
            limit=PAGE + 1,
        )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_url = None
    if more:
        last = rows[-1]
        key = f"{last.last_message_at.isoformat()}_{last.id}"
        next_url = str(request.rel_url.with_query({"status": status, "before": key}))
    return aiohttp_jinja2.render_template(
        "handoff/list.html",
        request,
        {
            "rows": rows,
            "status": status,
            "next_url": next_url,
            "first_url": str(request.rel_url.with_query({"status": status})) if before else None,
            "channels": CHANNELS,
            "langs": LANGS,
            "area_name": lambda code: _area_name(request, code),
        },
    )


async def _conversation(request: web.Request, staff) -> repo.Conversation:
    hid = request.match_info["id"]
    if not hid.isdigit() or len(hid) > 12:
        raise web.HTTPNotFound()
    async with services_of(request).sessionmaker() as session:
        conv = await repo.conversation(session, int(hid))
    if conv is None:
        raise web.HTTPNotFound()
    require_area(staff, conv.area_code)
    return conv


async def _render(
    request: web.Request, conv: repo.Conversation, *, error: str = "", status: int = 200
) -> web.StreamResponse:
    services = services_of(request)
    async with services.sessionmaker() as session:
        h = await session.get(Handoff, conv.id)
        u = await session.get(User, h.user_id) if h is not None else None
        window = (
            await handoff_staff.window_for(session, services, h, u)
            if h is not None and u is not None
            else None
        )
    notice = {"sent": "Đã gửi tin trả lời.", "back": "Đã trả cuộc trò chuyện về cho Làng Số."}
    return aiohttp_jinja2.render_template(
        "handoff/detail.html",
        request,
        {
            "c": conv,
            "window": window,
            "error": error,
            "notice": notice.get(request.query.get("done", ""), ""),
            "channels": CHANNELS,
            "langs": LANGS,
            "delivery": DELIVERY,
            "area": _area_name(request, conv.area_code),
            "max_chars": services.settings.handoff.max_reply_chars,
        },
        status=status,
    )


@routes.get(r"/staff/handoff/{id}")
async def conversation(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    return await _render(request, await _conversation(request, staff))


AUDIO_TYPES = {
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "amr": "audio/amr",
    "wav": "audio/wav",
    "webm": "audio/webm",
}


@routes.get(r"/staff/handoff/{id}/voice/{mid:\d{1,12}}")
async def voice(request: web.Request) -> web.StreamResponse:
    """A villager's voice message, for staff who see the conversation: private, not cached."""
    staff = await current_staff(request)
    conv = await _conversation(request, staff)
    services = services_of(request)
    async with services.sessionmaker() as session:
        ref = await repo.voice_ref(session, conv.id, int(request.match_info["mid"]))
    store = MediaStore(services.settings.path(services.settings.media.dir))
    path = store.path(ref) if ref else None
    ext = ref.rsplit(".", 1)[-1] if ref else ""
    if path is None or ext not in AUDIO_TYPES or not path.is_file():
        raise web.HTTPNotFound(text="Không có tin nhắn thoại.")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": AUDIO_TYPES[ext],
            "Cache-Control": "private, no-store",
            "Content-Disposition": "inline",
        },
    )


@routes.post(r"/staff/handoff/{id}/reply")
async def reply(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    form = await check_csrf(request)
    conv = await _conversation(request, staff)
    text = str(form.get("text", ""))[:20_000]
    services = services_of(request)
    try:
        async with services.writing() as session:
            done = await handoff_staff.reply(
                session, services, conv.id, text, staff_id=staff.id, staff_name=staff.name
            )
            await audit.record(
                session,
                staff,
                "handoff.reply",
                target=f"handoff:{conv.id}",
                detail={"chars": len(text.strip()), "outbox": done.outbox_id},
            )
            await session.commit()
    except handoff_staff.Refused as refused:
        return await _render(request, conv, error=refused.message, status=409)
    raise web.HTTPSeeOther(f"/staff/handoff/{conv.id}?done=sent")


@routes.post(r"/staff/handoff/{id}/close")
async def hand_back(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    await check_csrf(request)
    conv = await _conversation(request, staff)
    services = services_of(request)
    try:
        async with services.writing() as session:
            done = await handoff_staff.hand_back(session, services, conv.id)
            await audit.record(
                session,
                staff,
                "handoff.hand_back",
                target=f"handoff:{conv.id}",
                detail={"told": done.outbox_id is not None},
            )
            await session.commit()
    except handoff_staff.Refused as refused:
        return await _render(request, conv, error=refused.message, status=409)
    raise web.HTTPSeeOther(f"/staff/handoff/{conv.id}?done=back")
