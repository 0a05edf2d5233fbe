"""Officers' reports on the dashboard: the table, one report, its review, its export.

- `/staff/reports`: filters (area subtree, project, indicator, period, officer, state), sort
  (date sent, period, value, area, indicator; either way), keyset paging (`after` / `before`
  cursors: page 2,000 of 100,000 rows costs what page 1 does), a count capped at 10,000, and
  CSV / XLSX / JSON exports of the same filters (`/staff/reports/export`).
- `/staff/reports/{id}`: what was reported, the photo (`/staff/reports/{id}/photo`, read from
  the media store for a logged-in account that sees the report's area: never a public URL),
  an openstreetmap.org link for a shared location, the history of corrections and reviews, and
  the review: "checked", or "sent back" with a comment, which tells the officer in the chat (an
  outbox row in the same transaction, bot/feedback/notify.py) and lets them correct it whatever
  its age (bot/storage/repositories/reports.editable).
- A commune account sees only its area's subtree: its table is limited to it, and another
  area's report, photo or review is a 403. Every review and export is an audit entry.

Exports hold what the page shows, except the officer's chat id (never stored with a report)
and the exact location (a household's place: the detail page shows it to who needs it); the
photo is a yes/no. Helpers the feedback page shares are at the top.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.areas import areas_of
from bot.feedback import notify
from bot.flows.forms.schema import forms_for
from bot.media.store import MediaStore
from bot.spreadsheets import FORMATS, check_format, stream_export
from bot.staff import audit
from bot.staff.auth import StaffUser, check_csrf, current_staff, require_area, services_of
from bot.storage.repositories import reports as repo

routes = web.RouteTableDef()
NAV = ("Báo cáo", "/staff/reports", 10, ("admin", "province", "commune"))
PAGE = 50
MAX_COMMENT = 1000
PERIOD_RE = re.compile(r"\A\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?\Z")
STATE_LABELS = {
    repo.PENDING: "chờ kiểm tra",
    repo.CHECKED: "đã kiểm tra",
    repo.SENT_BACK: "gửi lại để sửa",
    repo.WITHDRAWN: "đã rút",
}
SORT_LABELS = {
    "created": "ngày gửi",
    "period": "kỳ",
    "value": "giá trị",
    "area": "địa bàn",
    "indicator": "chỉ tiêu",
}
HISTORY_LABELS = {
    "corrected": "cán bộ sửa",
    "withdrawn": "cán bộ rút",
    repo.CHECKED: "đã kiểm tra",
    repo.SENT_BACK: "gửi lại để sửa",
}
FIELD_LABELS = {
    "project": "dự án",
    "indicator": "chỉ tiêu",
    "area_code": "địa bàn",
    "period": "kỳ",
    "value": "giá trị",
    "unit": "đơn vị",
    "note": "ghi chú",
    "photo_ref": "ảnh",
    "latitude": "vĩ độ",
    "longitude": "kinh độ",
    "review": "kiểm tra",
    "review_comment": "ý kiến",
    "status": "trạng thái",
}
DONE = {
    "checked": "Đã đánh dấu đã kiểm tra.",
    "sent_back": "Đã gửi lại cho cán bộ; cán bộ được báo trong cuộc trò chuyện.",
    "sent_back_unsent": "Đã gửi lại, nhưng không nhắn được cho cán bộ (đã xóa dữ liệu hoặc "
    "chặn bot): hãy liên hệ trực tiếp.",
}
EXPORT_HEADER = (
    "id",
    "gửi lúc",
    "kỳ",
    "dự án",
    "mã chỉ tiêu",
    "chỉ tiêu",
    "mã địa bàn",
    "địa bàn",
    "giá trị",
    "đơn vị",
    "ghi chú",
    "cán bộ",
    "vai trò",
    "địa bàn cán bộ",
    "kênh",
    "tình trạng",
    "ý kiến kiểm tra",
    "người kiểm tra",
    "kiểm tra lúc",
    "phiên bản",
    "có ảnh",
    "có vị trí",
)


# ---- helpers shared with the feedback page ----------------------------------------------------


def scope_of(staff: StaffUser) -> tuple[str | None, bool]:
    """(the area a commune account is limited to, whether it is a commune account without
    one: it then sees no area's objects)."""
    if staff.role != "commune":
        return None, False
    return staff.area_code, not staff.area_code


def area_options(services: Any, staff: StaffUser) -> list[tuple[str, str]]:
    """(code, indented name) of the areas the account may filter by, in tree order."""
    tree = areas_of(services.content)
    roots = [staff.area_code] if staff.role == "commune" and staff.area_code else None
    if roots is None:
        roots = [a.code for a in tree.children(None)]
    out = []
    for root in roots:
        depth0 = root.count(".")
        for a in tree.subtree(root):
            out.append((a.code, "\u00a0\u00a0" * (a.code.count(".") - depth0) + a.name))
    return out


def area_name(services: Any, code: str | None) -> str:
    if not code:
        return "—"
    return labels(services)["area"].get(code, code)


def check_area(services: Any, staff: StaffUser, code: str, errors: list[str]) -> str | None:
    """A typed area filter: a code of the tree the account may see (403 outside its area)."""
    code = code.strip()[:200]
    if not code:
        return None
    area = areas_of(services.content).get(code)
    if area is None or area.code != code:
        errors.append("Địa bàn: chọn một địa bàn trong danh sách.")
        return None
    require_area(staff, code)
    return code


def map_link(latitude: float | None, longitude: float | None) -> str | None:
    """A link to the shared place on openstreetmap.org (a link, nothing loaded from there)."""
    if latitude is None or longitude is None:
        return None
    return (
        f"https://www.openstreetmap.org/?mlat={latitude:.6f}&mlon={longitude:.6f}"
        f"#map=17/{latitude:.6f}/{longitude:.6f}"
    )


PHOTO_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def photo_response(services: Any, ref: str | None) -> web.StreamResponse:
    """The stored photo `ref` for a logged-in account (the caller checked its area): from the
    media store, private, not cached; 404 when there is none."""
    store = MediaStore(services.settings.path(services.settings.media.dir))
    path = store.path(ref) if ref else None
    ext = ref.rsplit(".", 1)[-1] if ref else ""
    if path is None or ext not in PHOTO_TYPES or not path.is_file():
        raise web.HTTPNotFound(text="Không có ảnh.")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": PHOTO_TYPES[ext],
            "Cache-Control": "private, no-store",
            "Content-Disposition": "inline",
        },
    )


def export_links(request: web.Request, path: str, query: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (f, str(request.rel_url.with_path(path).with_query({**query, "format": f})))
        for f in FORMATS
    ]


def int_field(text: str, label: str, errors: list[str], low: int, high: int) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9 or not low <= int(text) <= high:
        errors.append(f"{label}: nhập một số từ {low} đến {high}.")
        return None
    return int(text)


def stamp(services: Any) -> str:
    return datetime.now(ZoneInfo(services.settings.timezone)).strftime("%Y%m%d-%H%M")


def refuse(message: str, cls: type[web.HTTPException] = web.HTTPBadRequest) -> web.HTTPException:
    """An HTTP error whose `message` the staff error page shows (a 400 by default)."""
    exc = cls(text=message)
    exc.message = message  # type: ignore[attr-defined]
    return exc


def object_id(request: web.Request) -> int:
    raw = request.match_info.get("id", "")
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


# ---- the reports page -------------------------------------------------------------------------


FILTER_KEYS = ("area", "project", "indicator", "period", "officer", "state", "sort", "order")


def _lists(services: Any):
    return forms_for(services.content.root).lists


_labels: dict[int, tuple[Any, dict[str, dict[str, str]]]] = {}


def labels(services: Any) -> dict[str, dict[str, str]]:
    """Vietnamese names by code of the content's indicators, projects, feedback categories and
    areas, built once per content (an export of 100,000 rows looks each up per row)."""
    content = services.content
    got = _labels.get(id(content))
    if got is not None and got[0] is content:
        return got[1]
    lists = _lists(services)
    made = {
        "indicator": {str(o.value): o.label_for("vi") for o in lists.indicators},
        "project": {str(o.value): o.label_for("vi") for o in lists.projects},
        "category": {str(o.value): o.label_for("vi") for o in lists.feedback_categories},
        "area": {a.code: a.name for a in areas_of(content).areas},
    }
    if len(_labels) > 8:
        _labels.clear()
    _labels[id(content)] = (content, made)
    return made


def indicator_label(services: Any, code: str) -> str:
    return labels(services)["indicator"].get(str(code), code)


def project_label(services: Any, number: int) -> str:
    return labels(services)["project"].get(str(number), str(number))


def parse_filters(
    request: web.Request, staff: StaffUser
) -> tuple[repo.ReportFilter, dict[str, str], list[str]]:
    """The filters of the query string, what to show back in the form, and what was wrong."""
    services = services_of(request)
    q = request.query
    form = {k: q.get(k, "").strip()[:200] for k in FILTER_KEYS}
    errors: list[str] = []
    scope, scope_none = scope_of(staff)
    lists = _lists(services)
    indicator = form["indicator"] or None
    if indicator and indicator not in {str(o.value) for o in lists.indicators}:
        errors.append("Chỉ tiêu: chọn một chỉ tiêu trong danh sách.")
        indicator = None
    period = form["period"] or None
    if period and not PERIOD_RE.match(period.upper()):
        errors.append("Kỳ: nhập 2026, 2026-11 (tháng) hoặc 2026-Q4 (quý).")
        period = None
    state = form["state"] or None
    if state and state not in repo.STATES:
        errors.append("Tình trạng: chọn trong danh sách.")
        state = None
    sort = form["sort"] or "created"
    if sort not in repo.SORTS:
        errors.append("Sắp xếp: chọn trong danh sách.")
        sort = "created"
    order = form["order"] or "desc"
    if order not in ("asc", "desc"):
        errors.append("Thứ tự: tăng hoặc giảm.")
        order = "desc"
    f = repo.ReportFilter(
        area=check_area(services, staff, form["area"], errors),
        scope=scope,
        scope_none=scope_none,
        project=int_field(form["project"], "Dự án", errors, 1, 99),
        indicator=indicator,
        period=period.upper() if period else None,
        officer=int_field(form["officer"], "Cán bộ", errors, 1, 10**12),
        state=state,
        sort=sort,
        descending=order == "desc",
    )
    return f, form, errors


def _row_view(services: Any, row: repo.Row) -> dict[str, Any]:
    r = row.report
    state = repo.WITHDRAWN if r.status == repo.WITHDRAWN else r.review
    return {
        "id": r.id,
        "created_at": r.created_at,
        "period": r.period,
        "project": r.project,
        "indicator": indicator_label(services, r.indicator),
        "area": area_name(services, r.area_code),
        "value": f"{r.value:g} {r.unit}".strip(),
        "officer": officer_label(row.officer_name, r.officer_id, r.officer_role),
        "state": state,
        "state_label": STATE_LABELS.get(state, state),
        "corrected": r.version > 1,
    }


def officer_label(name: str | None, officer_id: int | None, role: str) -> str:
    if officer_id is None:
        return f"({role}, đã xóa dữ liệu)"
    return f"{name or 'Cán bộ'} (#{officer_id})"


@routes.get("/staff/reports")
async def reports_page(request: web.Request) -> web.StreamResponse:
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
        officers = await repo.officers_in(session, f.scope)
    query = {k: v for k, v in form.items() if v}
    lists = _lists(services)
    return aiohttp_jinja2.render_template(
        "reports/list.html",
        request,
        {
            "rows": [_row_view(services, r) for r in got.rows],
            "form": form,
            "errors": errors,
            "total": total,
            "capped": total > repo.COUNT_CAP,
            "cap": repo.COUNT_CAP,
            "areas": area_options(services, staff),
            "projects": [(o.value, o.label_for("vi")) for o in lists.projects],
            "indicators": [
                (o.value, o.label_for("vi"), o.extra.get("project")) for o in lists.indicators
            ],
            "officers": [(uid, officer_label(n, uid, "")) for uid, n in officers],
            "states": list(STATE_LABELS.items()),
            "sorts": list(SORT_LABELS.items()),
            "next_url": _page_url(request, query, "after", got.next_cursor),
            "prev_url": _page_url(request, query, "before", got.prev_cursor),
            "first_url": str(request.rel_url.with_query(query)) if (after or before) else None,
            "export_urls": export_links(request, "/staff/reports/export", query),
        },
        status=400 if errors else 200,
    )


def _page_url(request: web.Request, query: dict, key: str, cursor: str | None) -> str | None:
    return str(request.rel_url.with_query({**query, key: cursor})) if cursor else None


async def _visible(session, staff: StaffUser, report_id: int) -> repo.Row:
    row = await repo.row(session, report_id)
    if row is None:
        raise web.HTTPNotFound(text="Không có báo cáo này.")
    require_area(staff, row.report.area_code)
    return row


def _changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    keys = list(dict.fromkeys([*old, *new]))
    return [(FIELD_LABELS.get(k, k), old.get(k), new.get(k)) for k in keys]


@routes.get("/staff/reports/{id:\\d+}")
async def report_detail(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    report_id = object_id(request)
    async with services.sessionmaker() as session:
        row = await _visible(session, staff, report_id)
        history = await repo.history_rows(session, report_id)
    r = row.report
    view = _row_view(services, row)
    return aiohttp_jinja2.render_template(
        "reports/detail.html",
        request,
        {
            "r": r,
            "view": view,
            "project": project_label(services, r.project),
            "area_code": r.area_code,
            "officer_area": area_name(services, r.officer_area),
            "reviewer": row.reviewer,
            "map_url": map_link(r.latitude, r.longitude),
            "history": [
                {
                    "at": h.changed_at,
                    "action": HISTORY_LABELS.get(h.action, h.action),
                    "by": (
                        f"cán bộ {name or '—'}"
                        if h.changed_by_role == "staff"
                        else f"cán bộ báo cáo ({h.changed_by_role})"
                    ),
                    "changes": _changes(h.old_values or {}, h.new_values or {}),
                }
                for h, name in history
            ],
            "done": DONE.get(request.query.get("done", "")),
            "can_review": r.status != repo.WITHDRAWN,
            "max_comment": MAX_COMMENT,
        },
    )


@routes.get("/staff/reports/{id:\\d+}/photo")
async def report_photo(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    async with services.sessionmaker() as session:
        row = await _visible(session, staff, object_id(request))
    return photo_response(services, row.report.photo_ref)


@routes.post("/staff/reports/{id:\\d+}/review")
async def report_review(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    form = await check_csrf(request)
    services = services_of(request)
    report_id = object_id(request)
    verdict = str(form.get("verdict") or "")
    comment = str(form.get("comment") or "").strip()
    if verdict not in (repo.CHECKED, repo.SENT_BACK):
        raise refuse("Chọn: đã kiểm tra, hoặc gửi lại để sửa.")
    if verdict == repo.SENT_BACK and not comment:
        raise refuse("Gửi lại cần ý kiến: ghi rõ cán bộ cần sửa gì.")
    if len(comment) > MAX_COMMENT:
        raise refuse(f"Ý kiến dài quá {MAX_COMMENT} ký tự.")
    async with services.writing() as session:
        row = await _visible(session, staff, report_id)
        report = row.report
        if report.status == repo.WITHDRAWN:
            raise refuse("Báo cáo đã rút: không kiểm tra được nữa.", web.HTTPConflict)
        await repo.review(session, report, verdict, staff_id=staff.id, comment=comment or None)
        sent = None
        if verdict == repo.SENT_BACK:
            sent = await notify.sent_back_notice(
                session, services.catalogs.for_lang, report, comment
            )
        await audit.record(
            session,
            staff,
            f"report.{verdict}",
            target=f"report:{report_id}",
            detail={"notified": sent is not None} if verdict == repo.SENT_BACK else None,
        )
        await session.commit()
    done = verdict if verdict == repo.CHECKED or sent is not None else "sent_back_unsent"
    raise web.HTTPSeeOther(f"/staff/reports/{report_id}?done={done}")


def export_row(services: Any, row: repo.Row) -> tuple:
    r = row.report
    state = repo.WITHDRAWN if r.status == repo.WITHDRAWN else r.review
    return (
        r.id,
        r.created_at,
        r.period,
        r.project,
        r.indicator,
        indicator_label(services, r.indicator),
        r.area_code,
        area_name(services, r.area_code),
        r.value,
        r.unit,
        r.note,
        officer_label(row.officer_name, r.officer_id, r.officer_role),
        r.officer_role,
        r.officer_area,
        r.channel,
        STATE_LABELS.get(state, state),
        r.review_comment,
        row.reviewer,
        r.reviewed_at,
        r.version,
        "có" if r.photo_ref else "không",
        "có" if r.latitude is not None else "không",
    )


async def export_response(
    request: web.Request,
    staff: StaffUser,
    action: str,
    filters: dict[str, str],
    name: str,
    header: Iterable[str],
    rows: Callable[[], Any],
    sheet: str,
) -> web.StreamResponse:
    """The audit entry (committed before the first byte), then the streamed file."""
    services = services_of(request)
    fmt = check_format(request.query.get("format"))
    async with services.writing() as session:
        await audit.record(session, staff, action, detail={"format": fmt, "filters": filters})
        await session.commit()
    return await stream_export(
        request,
        fmt,
        f"{name}-{stamp(services)}",
        list(header),
        rows(),
        tz=services.settings.timezone,
        sheet_title=sheet,
    )


@routes.get("/staff/reports/export")
async def reports_export(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    check_format(request.query.get("format"))
    f, form, errors = parse_filters(request, staff)
    if errors:
        raise refuse(" ".join(errors))

    async def rows():
        async with services.sessionmaker() as session:
            async for row in repo.iter_export(session, f):
                yield export_row(services, row)

    filters = {k: v for k, v in form.items() if v}
    return await export_response(
        request, staff, "reports.export", filters, "bao-cao", EXPORT_HEADER, rows, "Báo cáo"
    )
