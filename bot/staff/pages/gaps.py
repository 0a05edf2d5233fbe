"""Content gaps: the questions the bot could not answer, grouped by similar wording
(bot/storage/repositories/gaps.py), the most asked first, with counts and the last date seen,
so editors see what to write next. No user is shown (none is stored). An editor (province staff,
admin) marks a group "answered by item X" (a content item that exists) or "out of scope", or
opens a marked group again; every mark is audited (the group's size and the item, not the
texts). The texts are kept only within `privacy.retention_days` (the retention purge)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from bot.i18n import LANGUAGES
from bot.staff import audit
from bot.staff.auth import check_csrf, current_staff, require, services_of
from bot.storage.repositories import gaps as repo

routes = web.RouteTableDef()
NAV = ("Câu chưa trả lời", "/staff/gaps", 40, ("admin", "province"))
EDITORS = ("admin", "province")
PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}
MAX_IDS = 500
SHOWN_WORDINGS = 8


def _filters(request: web.Request) -> dict[str, str]:
    q = request.query
    view = q.get("view", "open")
    days = q.get("days", "90")
    lang = q.get("lang", "")
    return {
        "view": view if view in ("open", "marked") else "open",
        "days": days if days in PERIODS else "90",
        "lang": lang if lang in LANGUAGES else "",
    }


@routes.get("/staff/gaps")
async def gaps_page(request: web.Request) -> web.StreamResponse:
    require(await current_staff(request), *EDITORS)
    f = _filters(request)
    services = services_of(request)
    days = PERIODS[f["days"]]
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    async with services.sessionmaker() as session:
        groups = await repo.groups(
            session, resolved=f["view"] == "marked", since=since, lang=f["lang"] or None
        )
    items = services.content.by_id()
    choices = sorted(
        ((i.id, i.title_for("vi")) for i in services.content.items), key=lambda x: x[1]
    )
    return aiohttp_jinja2.render_template(
        "gaps/list.html",
        request,
        {
            "groups": groups,
            "f": f,
            "periods": PERIODS,
            "languages": LANGUAGES,
            "titles": {k: v.title_for("vi") for k, v in items.items()},
            "choices": choices,
            "shown": SHOWN_WORDINGS,
            "retention_days": services.settings.privacy.retention_days,
            "notice": {"1": "Đã ghi nhận."}.get(request.query.get("done", ""), ""),
            "total": sum(g.count for g in groups),
        },
    )


class Bad(web.HTTPBadRequest):
    """A 400 whose `message` the staff error page shows."""

    def __init__(self, message: str) -> None:
        super().__init__(text=message)
        self.message = message


def _ids(raw: str) -> list[int]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts or len(parts) > MAX_IDS or not all(p.isdigit() and len(p) < 12 for p in parts):
        raise Bad("Nhóm câu hỏi không hợp lệ. Tải lại trang rồi thử lại.")
    return sorted({int(p) for p in parts})


@routes.post("/staff/gaps/mark")
async def mark(request: web.Request) -> web.StreamResponse:
    staff = require(await current_staff(request), *EDITORS)
    form = await check_csrf(request)
    ids = _ids(str(form.get("ids", "")))
    resolution = str(form.get("resolution", ""))
    item = str(form.get("item", "")).strip()[:100]
    services = services_of(request)
    if resolution == "reopen":
        value, item = None, ""
    elif resolution == repo.OUT_OF_SCOPE:
        value, item = repo.OUT_OF_SCOPE, ""
    elif resolution == repo.ANSWERED:
        if item not in services.content.by_id():
            raise Bad("Chọn một mục nội dung có thật (mã mục, ví dụ support.housing).")
        value = repo.ANSWERED
    else:
        raise Bad("Chọn: đã có mục trả lời, ngoài phạm vi, hoặc mở lại.")
    async with services.writing() as session:
        n = await repo.mark(session, ids, value, item or None)
        await audit.record(
            session,
            staff,
            "gaps.mark",
            target=f"gaps:{ids[0]}",
            detail={"resolution": resolution, "item": item or None, "wordings": n},
        )
        await session.commit()
    try:
        back = URL(str(form.get("back", "")))
    except ValueError:
        back = URL("/staff/gaps")
    if back.is_absolute() or back.path != "/staff/gaps":
        back = URL("/staff/gaps")
    raise web.HTTPSeeOther(str(back.update_query(done="1")))
