"""Notices on the dashboard: compose (with a preview), follow, cancel, the attendee list.

- `/staff/notices`: the latest notices, their state and counts.
- `/staff/notices/new`: the composer: title and body per language (Vietnamese required, the
  others fall back to it), topics, areas (a commune includes its villages), languages, roles,
  training details (date, time, place, online link, contact), a photo or document (an https://
  address or a file under content/), RSVP, the Zalo proactive quota, send now or at a time.
  "Xem trước" shows the recipient count per channel and language and the message as each
  language sees it (nothing stored); "Gửi" stores the notice and its outbox rows in one
  transaction (bot/notices/compose.py) and opens its page.
- `/staff/notices/{id}`: the notice, its progress updated live (notices.js polls
  `/staff/notices/{id}/progress.json`, a small JSON of counts), the final report by state and
  reason, RSVP counts, the attendee export (`/attendees?format=csv|xlsx`), and "Hủy" while it
  is scheduled or going out.

A commune account composes only for its own area (the areas it names must lie in its subtree;
none named means its whole area) and sees, cancels and exports only notices whose areas all lie
there. Sending, cancelling and exporting are audit entries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.areas import areas_of
from bot.i18n import LANGUAGES
from bot.notices import attendees as attendee_list
from bot.notices import compose as composing
from bot.notices import manage
from bot.notices import topics as topics_mod
from bot.notices.model import DETAILS, Draft, parse_when, zone
from bot.spreadsheets import check_format, stream_export
from bot.staff import audit
from bot.staff.auth import Refused, StaffUser, check_csrf, current_staff, services_of
from bot.storage.models import Notice
from bot.storage.repositories import notices as repo

routes = web.RouteTableDef()
NAV = ("Thông báo", "/staff/notices", 30, ("admin", "province", "commune"))
STATUS_LABELS = {
    repo.SCHEDULED: "chờ đến giờ gửi",
    repo.SENDING: "đang gửi",
    repo.DONE: "đã gửi xong",
    repo.CANCELLED: "đã hủy",
}
STATE_LABELS = {
    "queued": "chờ gửi",
    "sending": "đang gửi",
    "sent": "đã gửi",
    "delivered": "đã đến máy",
    "read": "đã đọc",
    "failed": "không gửi được",
}
REASON_LABELS = {
    "outside_window": "ngoài 48 giờ Zalo cho phép",
    "quota_spent": "hết lượt Zalo tháng này",
    "blocked": "người nhận đã chặn",
    "cancelled": "đã hủy",
    "retries_exhausted": "thử nhiều lần không được",
    "refused": "nền tảng từ chối",
    "unrenderable": "kênh không hiển thị được",
    "unsubscribed": "người nhận đã ngừng hoặc đổi địa bàn",
    "other": "lý do khác",
}
ROLE_LABELS = {"villager": "người dân", "officer": "cán bộ"}
DETAIL_LABELS = {
    "date": "Ngày",
    "time": "Giờ",
    "place": "Địa điểm",
    "link": "Họp trực tuyến",
    "contact": "Liên hệ",
}
MAX_FORM_FIELD = 4000


def _visible(staff: StaffUser, notice: Notice) -> bool:
    if staff.role != "commune":
        return True
    return bool(notice.areas) and all(staff.sees(a) for a in notice.areas)


async def _notice(request: web.Request, staff: StaffUser, session) -> Notice:
    try:
        notice_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    notice = await repo.get(session, notice_id)
    if notice is None:
        raise web.HTTPNotFound()
    if not _visible(staff, notice):
        raise Refused("Thông báo này không thuộc địa bàn của bạn.")
    return notice


def _area_choices(request: web.Request, staff: StaffUser) -> list[tuple[str, str]]:
    tree = areas_of(services_of(request).content)
    if staff.role == "commune":
        if not staff.area_code:
            return []
        return [(a.code, a.name) for a in tree.subtree(staff.area_code)]
    return [(a.code, a.name) for a in tree.areas if a.level != "province"]


def _form_values(form: Any) -> dict[str, Any]:
    def one(name: str) -> str:
        return str(form.get(name, "") or "")[:MAX_FORM_FIELD]

    def many(name: str) -> list[str]:
        return [str(v)[:200] for v in form.getall(name, [])]

    codes = [c.strip() for c in one("area_codes").replace(";", ",").split(",") if c.strip()]
    return {
        "title": {lang: one(f"title_{lang}") for lang in LANGUAGES},
        "body": {lang: one(f"body_{lang}") for lang in LANGUAGES},
        "audio": {lang: one(f"audio_{lang}") for lang in LANGUAGES},
        "topics": many("topic"),
        "areas": list(dict.fromkeys(many("area") + codes)),
        "area_codes": one("area_codes"),
        "langs": many("lang"),
        "roles": many("role"),
        "rsvp": bool(form.get("rsvp")),
        "use_quota": bool(form.get("use_quota")),
        "details": {k: one(k) for k in DETAILS},
        "photo": one("photo"),
        "document": one("document"),
        "at": one("at"),
    }


def _draft(values: dict[str, Any], staff: StaffUser, tz) -> tuple[Draft, list[str]]:
    problems: list[str] = []
    send_at = None
    if values["at"].strip():
        send_at = parse_when(values["at"], tz)
        if send_at is None:
            problems.append("Giờ gửi không đọc được: chọn ngày và giờ, hoặc để trống để gửi ngay.")
    areas = list(values["areas"])
    if staff.role == "commune":
        if not staff.area_code:
            problems.append("Tài khoản xã chưa được gắn địa bàn: nhờ quản trị gắn trước.")
        elif not areas:
            areas = [staff.area_code]
        elif not all(staff.sees(a) for a in areas):
            problems.append("Tài khoản xã chỉ gửi được cho địa bàn của mình.")
    draft = Draft(
        title=dict(values["title"]),
        body=dict(values["body"]),
        audio=dict(values["audio"]),
        topics=list(values["topics"]),
        areas=areas,
        langs=list(values["langs"]),
        roles=list(values["roles"]),
        rsvp=values["rsvp"],
        send_at=send_at,
        photo=values["photo"] or None,
        document=values["document"] or None,
        details=dict(values["details"]),
        use_quota=values["use_quota"],
        created_by=f"staff:{staff.id}",
    )
    return draft, problems


def _compose_context(request, staff, values, problems=(), preview=None) -> dict[str, Any]:
    services = services_of(request)
    counts = []
    if preview is not None:
        counts = [
            (c, lang, LANGUAGES.get(lang, lang), n)
            for (c, lang), n in sorted(preview.counts.items())
        ]
    return {
        "form": values,
        "errors": list(problems),
        "languages": list(LANGUAGES.items()),
        "topics": topics_mod.load(services.settings.path(services.settings.content_dir)),
        "areas": _area_choices(request, staff),
        "roles": list(ROLE_LABELS.items()),
        "detail_labels": DETAIL_LABELS,
        "preview": preview,
        "counts": counts,
    }


EMPTY = {
    "title": {},
    "body": {},
    "audio": {},
    "topics": [],
    "areas": [],
    "area_codes": "",
    "langs": [],
    "roles": [],
    "rsvp": False,
    "use_quota": False,
    "details": {},
    "photo": "",
    "document": "",
    "at": "",
}


@routes.get("/staff/notices")
async def notice_list(request: web.Request) -> web.Response:
    staff = await current_staff(request)
    async with services_of(request).sessionmaker() as session:
        rows = [n for n in await repo.listing(session, limit=100) if _visible(staff, n)]
    return aiohttp_jinja2.render_template(
        "notices/list.html", request, {"rows": rows, "labels": STATUS_LABELS}
    )


@routes.get("/staff/notices/new")
async def compose_page(request: web.Request) -> web.Response:
    staff = await current_staff(request)
    return aiohttp_jinja2.render_template(
        "notices/compose.html", request, _compose_context(request, staff, EMPTY)
    )


@routes.post("/staff/notices/new")
async def compose_post(request: web.Request) -> web.Response:
    staff = await current_staff(request)
    form = await check_csrf(request)
    services = services_of(request)
    values = _form_values(form)
    draft, problems = _draft(values, staff, zone(services.settings.timezone))
    translators = services.catalogs.for_lang
    if problems:
        context = _compose_context(request, staff, values, problems)
        return aiohttp_jinja2.render_template("notices/compose.html", request, context, status=400)
    if form.get("action") != "send":
        async with services.sessionmaker() as session:
            shown = await composing.preview(
                session, draft, settings=services.settings, translators=translators
            )
        status = 400 if shown.problems else 200
        context = _compose_context(request, staff, values, shown.problems, shown)
        return aiohttp_jinja2.render_template(
            "notices/compose.html", request, context, status=status
        )
    async with services.writing() as session:
        try:
            made = await composing.compose(
                session, draft, settings=services.settings, translators=translators
            )
        except composing.DraftError as exc:
            await session.rollback()
            context = _compose_context(request, staff, values, exc.problems)
            return aiohttp_jinja2.render_template(
                "notices/compose.html", request, context, status=400
            )
        await audit.record(
            session,
            staff,
            "notice.send",
            target=f"notice:{made.notice.id}",
            detail={"recipients": made.total, "status": made.notice.status},
        )
        await session.commit()
    raise web.HTTPSeeOther(f"/staff/notices/{made.notice.id}")


@routes.get(r"/staff/notices/{id:\d+}")
async def notice_page(request: web.Request) -> web.Response:
    staff = await current_staff(request)
    services = services_of(request)
    async with services.writing() as session:
        notice = await _notice(request, staff, session)
        got = await manage.progress(session, notice.id)
        await session.commit()
    assert got is not None
    preview = composing.render(notice, "vi")
    from bot.messages import render_numbered

    return aiohttp_jinja2.render_template(
        "notices/detail.html",
        request,
        {
            "n": notice,
            "p": got,
            "text": render_numbered(preview),
            "labels": STATUS_LABELS,
            "state_labels": STATE_LABELS,
            "reason_labels": REASON_LABELS,
            "detail_labels": DETAIL_LABELS,
            "open": notice.status in repo.OPEN,
            "done": request.query.get("done", ""),
        },
    )


@routes.get(r"/staff/notices/{id:\d+}/progress.json")
async def notice_progress(request: web.Request) -> web.Response:
    staff = await current_staff(request)
    async with services_of(request).writing() as session:
        notice = await _notice(request, staff, session)
        got = await manage.progress(session, notice.id)
        await session.commit()
    assert got is not None
    body = got.as_json()
    body["status_label"] = STATUS_LABELS.get(got.notice.status, got.notice.status)
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@routes.post(r"/staff/notices/{id:\d+}/cancel")
async def notice_cancel(request: web.Request) -> web.Response:
    staff = await current_staff(request)
    await check_csrf(request)
    async with services_of(request).writing() as session:
        notice = await _notice(request, staff, session)
        _n, dropped = await manage.cancel(session, notice.id, datetime.now(UTC))
        await audit.record(
            session,
            staff,
            "notice.cancel",
            target=f"notice:{notice.id}",
            detail={"not_sent": dropped},
        )
        await session.commit()
    raise web.HTTPSeeOther(f"/staff/notices/{notice.id}?done=cancelled")


@routes.get(r"/staff/notices/{id:\d+}/attendees")
async def notice_attendees(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    fmt = check_format(request.query.get("format", "csv"))
    services = services_of(request)
    tz = zone(services.settings.timezone)
    async with services.writing() as session:
        notice = await _notice(request, staff, session)
        await audit.record(
            session, staff, "notice.attendees", target=f"notice:{notice.id}", detail={"format": fmt}
        )
        await session.commit()
    async with services.sessionmaker() as session:
        return await stream_export(
            request,
            fmt,
            f"tham-gia-thong-bao-{notice.id}",
            attendee_list.HEADER,
            attendee_list.rows(session, notice.id, tz),
            tz=tz,
            sheet_title="Tham gia",
        )
