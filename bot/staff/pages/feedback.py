"""Citizens' feedback on the dashboard: the inbox, one feedback, its status, replies,
assignment, and the export.

- `/staff/feedback`: filters (status, or "open"; category; assigned to me / nobody / an account;
  overdue only; area subtree; a tracking code), oldest or newest first, keyset paging, CSV / XLSX
  / JSON exports of the same filters. A feedback still open `feedback.overdue_days` after it was
  sent is marked overdue (computed at each view: changing the setting applies at once).
- `/staff/feedback/{id}`: what the citizen wrote, the photo (`/staff/feedback/{id}/photo`, from
  the media store, logged-in staff only), a map link for a shared place, the contact phone
  when the citizen gave one (shown here, never exported), the history of status changes and
  replies, and the forms: a new status (a rejection needs a reason), a reply, an assignment.
- A status change or a reply reaches the citizen in their channel and language: an outbox row
  in the same transaction (bot/feedback/notify.py), sent by the running bot's dispatcher. A reply
  to a feedback nobody has taken yet also marks it received.
- A commune account sees the feedback of its area's subtree and what is assigned to it
  (assigning to a commune account gives the feedback that commune's area), may take a
  feedback itself, and gets a 403 for the rest. Every action is an audit entry.

Exports: the code, dates, category, what the citizen wrote (staff read it on the page), status,
overdue, assignee, area, channel, language, the latest reply, and whether there is a photo and a
place. Never the citizen's user or chat id, their contact phone, the photo's reference or the
exact place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot.feedback import notify, tracking
from bot.flows.forms.schema import forms_for
from bot.staff import audit
from bot.staff.auth import StaffUser, check_csrf, current_staff, require, services_of
from bot.staff.pages.reports import (
    area_name,
    area_options,
    check_area,
    export_links,
    export_response,
    labels,
    map_link,
    object_id,
    photo_response,
    refuse,
    scope_of,
)
from bot.storage.repositories import feedback as repo
from bot.storage.repositories import staff as staff_repo

routes = web.RouteTableDef()
NAV = ("Phản ánh", "/staff/feedback", 20, ("admin", "province", "commune"))
PAGE = 50
MAX_TEXT = 2000
STATUS_LABELS = {s: tracking.STATUS_LABELS[s] for s in repo.ALL_STATUSES}
FILTER_KEYS = ("status", "category", "assigned", "overdue", "area", "code", "order")
DONE = {
    "status": "Đã đổi tình trạng; người phản ánh được báo trong cuộc trò chuyện.",
    "reply": "Đã gửi trả lời; người phản ánh nhận được trong cuộc trò chuyện.",
    "unsent": "Đã lưu, nhưng không nhắn được cho người phản ánh (đã xóa dữ liệu hoặc chặn bot).",
    "assigned": "Đã giao việc.",
}
EXPORT_HEADER = (
    "mã",
    "gửi lúc",
    "mã chuyên mục",
    "chuyên mục",
    "nội dung",
    "tình trạng",
    "quá hạn",
    "giao cho",
    "mã địa bàn",
    "địa bàn",
    "kênh",
    "ngôn ngữ",
    "trả lời gần nhất",
    "cập nhật lúc",
    "có ảnh",
    "có vị trí",
)


def _days(services: Any) -> float:
    return services.settings.feedback.overdue_days


def category_label(services: Any, code: str) -> str:
    return labels(services)["category"].get(code, code)


def parse_filters(
    request: web.Request, staff: StaffUser
) -> tuple[repo.FeedbackFilter, dict[str, str], list[str]]:
    services = services_of(request)
    q = request.query
    form = {k: q.get(k, "").strip()[:200] for k in FILTER_KEYS}
    errors: list[str] = []
    status = form["status"] or None
    if status and status != "open" and status not in repo.ALL_STATUSES:
        errors.append("Tình trạng: chọn trong danh sách.")
        status = None
    category = form["category"] or None
    categories = {str(o.value) for o in forms_for(services.content.root).lists.feedback_categories}
    if category and category not in categories:
        errors.append("Chuyên mục: chọn trong danh sách.")
        category = None
    assigned: int | str | None = None
    if form["assigned"] == "me":
        assigned = staff.id
    elif form["assigned"] == repo.UNASSIGNED:
        assigned = repo.UNASSIGNED
    elif form["assigned"].isdigit() and len(form["assigned"]) < 12:
        assigned = int(form["assigned"])
    elif form["assigned"]:
        errors.append("Giao cho: chọn trong danh sách.")
    code = None
    if form["code"]:
        code = tracking.normalize(form["code"])
        if code is None:
            errors.append("Mã phản ánh: 8 ký tự, ví dụ K7QF-9XPA.")
    if form["order"] not in ("", "new", "old"):
        errors.append("Thứ tự: mới trước hoặc cũ trước.")
    scope, scope_none = scope_of(staff)
    f = repo.FeedbackFilter(
        status=status,
        category=category,
        assigned=assigned,
        overdue_before=repo.overdue_cutoff(_days(services)) if form["overdue"] else None,
        area=check_area(services, staff, form["area"], errors),
        code=code,
        scope=scope,
        scope_staff=staff.id if staff.role == "commune" else None,
        scope_none=scope_none,
        descending=form["order"] != "old",
    )
    return f, form, errors


def _view(services: Any, row: repo.Row, now: datetime) -> dict[str, Any]:
    fb = row.feedback
    text = fb.description or ""
    return {
        "id": fb.id,
        "code": tracking.show(fb.code),
        "created_at": fb.created_at,
        "category": category_label(services, fb.category),
        "excerpt": text if len(text) <= 90 else text[:88] + "…",
        "status": fb.status,
        "status_label": STATUS_LABELS.get(fb.status, fb.status),
        "overdue": repo.is_overdue(fb, _days(services), now),
        "assignee": row.assignee,
        "area": area_name(services, fb.area_code) if fb.area_code else None,
    }


def _visible(staff: StaffUser, row: repo.Row | None) -> repo.Row:
    if row is None:
        raise web.HTTPNotFound(text="Không có phản ánh này.")
    fb = row.feedback
    if staff.role == "commune" and not (
        (fb.area_code and staff.sees(fb.area_code)) or fb.assigned_to == staff.id
    ):
        raise refuse("Phản ánh này thuộc địa bàn khác, ngoài địa bàn của bạn.", web.HTTPForbidden)
    return row


@routes.get("/staff/feedback")
async def feedback_page(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    f, form, errors = parse_filters(request, staff)
    after, before = request.query.get("after") or None, request.query.get("before") or None
    async with services.sessionmaker() as session:
        try:
            got = await repo.page(session, f, after=after, before=before, limit=PAGE)
        except ValueError:
            errors.append("Liên kết trang đã cũ: đã về trang đầu.")
            after = before = None
            got = await repo.page(session, f, limit=PAGE)
        total = await repo.count(session, f)
        accounts = await staff_repo.accounts(session, active=True)
    query = {k: v for k, v in form.items() if v}
    now = datetime.now(UTC)

    def url(key: str, cursor: str | None) -> str | None:
        return str(request.rel_url.with_query({**query, key: cursor})) if cursor else None

    return aiohttp_jinja2.render_template(
        "feedback/list.html",
        request,
        {
            "rows": [_view(services, r, now) for r in got.rows],
            "form": form,
            "errors": errors,
            "total": total,
            "capped": total > repo.COUNT_CAP,
            "cap": repo.COUNT_CAP,
            "statuses": [("open", "chưa xong (mọi bước)"), *STATUS_LABELS.items()],
            "categories": [
                (o.value, o.label_for("vi"))
                for o in forms_for(services.content.root).lists.feedback_categories
            ],
            "accounts": [(a.id, a.name) for a in accounts],
            "areas": area_options(services, staff),
            "overdue_days": f"{_days(services):g}",
            "next_url": url("after", got.next_cursor),
            "prev_url": url("before", got.prev_cursor),
            "first_url": str(request.rel_url.with_query(query)) if (after or before) else None,
            "export_urls": export_links(request, "/staff/feedback/export", query),
        },
        status=400 if errors else 200,
    )


@routes.get("/staff/feedback/{id:\\d+}")
async def feedback_detail(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    async with services.sessionmaker() as session:
        row = _visible(staff, await repo.row(session, object_id(request)))
        events = await repo.events_of(session, row.feedback.id)
        accounts = await staff_repo.accounts(session, active=True)
    fb = row.feedback
    return aiohttp_jinja2.render_template(
        "feedback/detail.html",
        request,
        {
            "fb": fb,
            "view": _view(services, row, datetime.now(UTC)),
            "map_url": map_link(fb.latitude, fb.longitude),
            "events": [
                {
                    "at": e.at,
                    "status": STATUS_LABELS.get(e.status, e.status),
                    "actor": e.actor.removeprefix("staff:"),
                    "reply": e.reply,
                    "reason": e.reason,
                }
                for e in events
            ],
            "statuses": [(s, STATUS_LABELS[s]) for s in repo.STATUSES],
            "accounts": [(a.id, a.name, a.role, a.area_code) for a in accounts],
            "can_assign_others": staff.role in ("admin", "province"),
            "done": DONE.get(request.query.get("done", "")),
            "max_text": MAX_TEXT,
            "overdue_days": f"{_days(services):g}",
        },
    )


@routes.get("/staff/feedback/{id:\\d+}/photo")
async def feedback_photo(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    async with services.sessionmaker() as session:
        row = _visible(staff, await repo.row(session, object_id(request)))
    return photo_response(services, row.feedback.photo_ref)


def _text(form: Any, name: str, label: str) -> str | None:
    text = str(form.get(name) or "").strip()
    if len(text) > MAX_TEXT:
        raise refuse(f"{label} dài quá {MAX_TEXT} ký tự.")
    return text or None


async def _change(
    request: web.Request,
    staff: StaffUser,
    feedback_id: int,
    status: str | None,
    reply: str | None,
    reason: str | None,
    action: str,
) -> str:
    """The status change and/or reply, the citizen's notice and the audit entry, in one
    transaction; which `DONE` message to show."""
    services = services_of(request)
    async with services.writing() as session:
        row = _visible(staff, await repo.row(session, feedback_id))
        fb = row.feedback
        before = fb.status
        if status is None:  # a reply alone: the status stays (a new feedback is now received)
            status = before if before in repo.STATUSES else "received"
        try:
            event = repo.set_status(
                session,
                fb,
                status,
                reply=reply,
                reason=reason,
                actor=f"staff:{staff.name}"[:32],
                staff_id=staff.id,
            )
        except ValueError as e:
            raise refuse("Từ chối cần ghi lý do.") from e
        await session.flush()
        sent = await notify.status_notice(
            session, services.catalogs.for_lang, fb, event, changed=status != before
        )
        await audit.record(
            session,
            staff,
            action,
            target=f"feedback:{fb.code}",
            detail={
                "from": before,
                "to": status,
                "reply": reply is not None,
                "notified": bool(sent),
            },
        )
        await session.commit()
    if sent is None:
        return "unsent"
    return "reply" if action == "feedback.reply" else "status"


@routes.post("/staff/feedback/{id:\\d+}/status")
async def feedback_status(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    form = await check_csrf(request)
    feedback_id = object_id(request)
    status = str(form.get("status") or "")
    if status not in repo.STATUSES:
        raise refuse("Chọn một tình trạng trong danh sách.")
    reason = _text(form, "reason", "Lý do")
    if status == "rejected" and reason is None:
        raise refuse("Từ chối cần ghi lý do: người phản ánh sẽ đọc lý do này.")
    reply = _text(form, "reply", "Trả lời")
    done = await _change(
        request,
        staff,
        feedback_id,
        status,
        reply,
        reason if status == "rejected" else None,
        "feedback.status",
    )
    raise web.HTTPSeeOther(f"/staff/feedback/{feedback_id}?done={done}")


@routes.post("/staff/feedback/{id:\\d+}/reply")
async def feedback_reply(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    form = await check_csrf(request)
    feedback_id = object_id(request)
    reply = _text(form, "reply", "Trả lời")
    if reply is None:
        raise refuse("Viết nội dung trả lời trước khi gửi.")
    done = await _change(request, staff, feedback_id, None, reply, None, "feedback.reply")
    raise web.HTTPSeeOther(f"/staff/feedback/{feedback_id}?done={done}")


@routes.post("/staff/feedback/{id:\\d+}/assign")
async def feedback_assign(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    form = await check_csrf(request)
    feedback_id = object_id(request)
    raw = str(form.get("account") or "").strip()
    if raw == "me":
        raw = str(staff.id)
    if raw and not (raw.isdigit() and len(raw) < 12):
        raise refuse("Chọn một tài khoản trong danh sách.")
    target = int(raw) if raw else None
    if target != staff.id:  # giving it to someone else, or to nobody
        require(staff, "admin", "province")
    services = services_of(request)
    async with services.writing() as session:
        row = _visible(staff, await repo.row(session, feedback_id))
        account = None
        if target is not None:
            account = await staff_repo.account_by_id(session, target)
            if account is None or not account.active:
                raise refuse("Tài khoản này không có hoặc đã bị khóa.")
        repo.assign(row.feedback, account)
        await audit.record(
            session,
            staff,
            "feedback.assign",
            target=f"feedback:{row.feedback.code}",
            detail={"to": account.name if account is not None else None},
        )
        await session.commit()
    raise web.HTTPSeeOther(f"/staff/feedback/{feedback_id}?done=assigned")


def export_row(services: Any, row: repo.Row, reply: str | None, now: datetime) -> tuple:
    fb = row.feedback
    return (
        tracking.show(fb.code),
        fb.created_at,
        fb.category,
        category_label(services, fb.category),
        fb.description,
        STATUS_LABELS.get(fb.status, fb.status),
        "có" if repo.is_overdue(fb, _days(services), now) else "không",
        row.assignee,
        fb.area_code,
        area_name(services, fb.area_code) if fb.area_code else None,
        fb.channel,
        fb.lang,
        reply,
        fb.updated_at,
        "có" if fb.photo_ref else "không",
        "có" if fb.latitude is not None else "không",
    )


@routes.get("/staff/feedback/export")
async def feedback_export(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    f, form, errors = parse_filters(request, staff)
    if errors:
        raise refuse(" ".join(errors))
    now = datetime.now(UTC)

    async def rows():
        async with services.sessionmaker() as session:
            async for row, reply in repo.iter_export(session, f):
                yield export_row(services, row, reply, now)

    filters = {k: v for k, v in form.items() if v}
    return await export_response(
        request, staff, "feedback.export", filters, "phan-anh", EXPORT_HEADER, rows, "Phản ánh"
    )
