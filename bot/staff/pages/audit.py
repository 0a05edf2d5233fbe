"""The audit log (admins): read-only, newest first, filtered by account, action (exact, or a
prefix such as "login."), target and dates, paged by keyset (`before` = the last id seen), and
exported with the same filters as CSV, XLSX or JSON (bot/spreadsheets.py); the export itself is
an entry."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.spreadsheets import FORMATS, check_format, stream_export
from bot.staff import audit
from bot.staff.auth import current_staff, require, services_of
from bot.storage.repositories import staff as repo

routes = web.RouteTableDef()
NAV = ("Nhật ký", "/staff/audit", 95, ("admin",))
PAGE = 50
HEADER = ("id", "thời gian", "tài khoản", "hành động", "đối tượng", "chi tiết", "địa chỉ")


def _date(text: str, field: str, errors: list[str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(f"{field}: ngày dạng 2026-12-01.")
        return None


def parse_filters(request: web.Request) -> tuple[repo.AuditFilter, dict[str, str], list[str]]:
    """The filters of the query string, what to show back in the form, and what was wrong."""
    q = request.query
    form = {k: q.get(k, "").strip()[:200] for k in ("staff", "action", "target", "since", "until")}
    errors: list[str] = []
    zone = ZoneInfo(services_of(request).settings.timezone)
    since = _date(form["since"], "Từ ngày", errors)
    until = _date(form["until"], "Đến ngày", errors)

    def start(d: date | None) -> datetime | None:
        return None if d is None else datetime(d.year, d.month, d.day, tzinfo=zone)

    filters = repo.AuditFilter(
        staff_name=form["staff"] or None,
        action=form["action"] or None,
        target=form["target"] or None,
        since=start(since),
        until=start(until + timedelta(days=1)) if until else None,
    )
    return filters, form, errors


@routes.get("/staff/audit")
async def audit_page(request: web.Request) -> web.StreamResponse:
    require(await current_staff(request), "admin")
    filters, form, errors = parse_filters(request)
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 18 else None
    services = services_of(request)
    async with services.sessionmaker() as session:
        entries = await repo.audit_page(session, filters, before, PAGE + 1)
        actions = await repo.audit_actions(session)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    query = {k: v for k, v in form.items() if v}
    next_query = None
    if more:
        next_query = {**query, "before": str(entries[-1].id)}
    return aiohttp_jinja2.render_template(
        "audit/list.html",
        request,
        {
            "entries": entries,
            "form": form,
            "errors": errors,
            "actions": actions,
            "prefixes": sorted({a.split(".")[0] + "." for a in actions if "." in a}),
            "next_url": str(request.rel_url.with_query(next_query)) if next_query else None,
            "first_url": str(request.rel_url.with_query(query)) if before else None,
            "export_urls": [
                (
                    f,
                    str(
                        request.rel_url.with_path("/staff/audit/export").with_query(
                            {**query, "format": f}
                        )
                    ),
                )
                for f in FORMATS
            ],
        },
        status=400 if errors else 200,
    )


@routes.get("/staff/audit/export")
async def audit_export(request: web.Request) -> web.StreamResponse:
    staff = require(await current_staff(request), "admin")
    fmt = check_format(request.query.get("format"))
    filters, form, errors = parse_filters(request)
    if errors:
        raise web.HTTPBadRequest(text=" ".join(errors))
    services = services_of(request)
    async with services.writing() as session:
        await audit.record(
            session,
            staff,
            "audit.export",
            detail={"format": fmt, "filters": {k: v for k, v in form.items() if v}},
        )
        await session.commit()

    async def rows():
        async with services.sessionmaker() as session:
            async for e in repo.iter_audit(session, filters):
                yield (
                    e.id,
                    e.at,
                    e.staff_name,
                    e.action,
                    e.target,
                    None if e.detail is None else _detail_text(e.detail),
                    e.address,
                )

    stamp = datetime.now(ZoneInfo(services.settings.timezone)).strftime("%Y%m%d-%H%M")
    return await stream_export(
        request,
        fmt,
        f"nhat-ky-{stamp}",
        HEADER,
        rows(),
        tz=services.settings.timezone,
        sheet_title="Nhật ký",
    )


def _detail_text(detail) -> str:
    import json

    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
