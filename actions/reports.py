"""Officers' quick progress reports in the chat: `/baocao`, the one-line report, `/baocaocuatoi`.

- `/baocao` (officers only, bot/officers.py `require_officer`; then the "report" consent) runs the
  quick report form (content/forms/quick_report.yml) through the form engine; its answers come
  to `submit_report`, which writes a report row (bot/storage/repositories/reports.py) with the
  officer's user id, role and area at the time.
- A one-line report (`bc du an 1 nha o thon 2 12 ho thang 11`, typed alone or after `/baocao`)
  is read by bot/reports/oneline.py: the form starts with what was understood, asks only what
  is missing (the optional note, photo and location are not asked: "Sửa" at the summary adds
  them) and shows the summary to confirm.
- `/baocaocuatoi` lists the officer's recent reports; one still within
  `reports.edit_window_hours` of being sent can be corrected (the form re-opens prefilled; the
  correction is written with the old values kept in report_history) or withdrawn (kept, marked
  withdrawn, in the history too). While a correction is open, the report's id waits in the
  user's dialogue state (`EDITING`); a new `/baocao` forgets it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot import officers
from bot.areas import areas_of
from bot.core.context import Context
from bot.core.registry import action, shortcut
from bot.flows.consent import require_consent
from bot.flows.forms import SubmitRefused, start_form, submit_handler
from bot.flows.forms.parse import show_number, show_period
from bot.flows.forms.schema import Form, forms_for
from bot.i18n import format_datetime
from bot.messages import Button
from bot.reports import oneline
from bot.storage.models import Report
from bot.storage.repositories import reports as repo

REPORT_FORM = "quick_report"
EDITING = "report_edit"  # state key: {"id": report id, "at": ISO time}
EDITING_FOR = timedelta(days=2)
OPTIONAL = ("note", "photo", "location")
LISTED = 10


def _lists(ctx: Context):
    return forms_for(ctx.content.root).lists


def _today(ctx: Context) -> date:
    return datetime.now(ZoneInfo(ctx.settings.reports.timezone)).date()


def _window(ctx: Context) -> timedelta:
    return timedelta(hours=ctx.settings.reports.edit_window_hours)


def _indicator(ctx: Context, code: Any):
    for o in _lists(ctx).indicators:
        if str(o.value) == str(code):
            return o
    return None


def _unit_of(ctx: Context, code: Any) -> str:
    o = _indicator(ctx, code)
    unit = (o.extra.get("unit") or {}) if o is not None else {}
    return unit.get("vi", "") if isinstance(unit, dict) else str(unit)


def _area_name(ctx: Context, code: str | None) -> str:
    area = areas_of(ctx.content).get(code) if code else None
    return area.name if area is not None else (code or "-")


def describe(ctx: Context, r: Report) -> str:
    """One report on one line: "#12 · tháng 11/2026 · Hộ được hỗ trợ làm nhà ở: 12 hộ · ..."."""
    o = _indicator(ctx, r.indicator)
    name = o.label_for(ctx.lang) if o is not None else r.indicator
    value = f"{show_number(r.value)} {r.unit}".strip()
    tz = ZoneInfo(ctx.settings.reports.timezone)
    when = format_datetime(r.created_at.astimezone(tz), ctx.lang)
    parts = [f"#{r.id}", show_period(r.period), f"{name}: {value}", _area_name(ctx, r.area_code)]
    line = " · ".join(parts) + " " + ctx._("(gửi {when})").format(when=when)
    if r.status == repo.WITHDRAWN:
        line += " " + ctx._("[đã rút]")
    elif r.version > 1:
        line += " " + ctx._("[đã sửa]")
    return line


def _editable(ctx: Context, r: Report) -> bool:
    # Within the window, or at any time once staff sent it back (the dashboard).
    return repo.editable(r, _window(ctx))


def _answers_of(r: Report) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "project": r.project,
        "indicator": r.indicator,
        "area": r.area_code,
        "period": r.period,
        "value": int(r.value) if float(r.value).is_integer() else r.value,
    }
    if r.note:
        answers["note"] = r.note
    if r.photo_ref:
        answers["photo"] = {"kind": "photo", "ref": r.photo_ref, "mime_type": None, "size": None}
    if r.latitude is not None and r.longitude is not None:
        answers["location"] = {"latitude": r.latitude, "longitude": r.longitude}
    return answers


# ---- filing ---------------------------------------------------------------------------------


@shortcut
def one_line(ctx: Context, text: str) -> tuple[str, str] | None:
    """An officer's line that starts like a report ("bc ...", "báo cáo ...") with a number."""
    if officers.is_officer(ctx.user) and oneline.is_one_line(text):
        return ("report", text)
    return None


def _understood(ctx: Context, parsed: oneline.Parsed) -> str:
    _ = ctx._
    got = parsed.answers
    lines = []
    if got:
        parts = []
        if "project" in got:
            parts.append(_("dự án {n}").format(n=got["project"]))
        if "indicator" in got:
            o = _indicator(ctx, got["indicator"])
            parts.append(o.label_for(ctx.lang) if o is not None else str(got["indicator"]))
        if "area" in got:
            parts.append(_area_name(ctx, got["area"]))
        if "period" in got:
            parts.append(show_period(got["period"]))
        if "value" in got:
            unit = _unit_of(ctx, got.get("indicator")) if "indicator" in got else parsed.unit
            parts.append(f"{show_number(got['value'])} {unit or ''}".strip())
        lines.append(_("Tôi hiểu: {parts}.").format(parts="; ".join(parts)))
    if parsed.place and not parsed.place_found:
        lines.append(
            _('Tôi không tìm thấy "{place}" trong danh sách địa bàn; bạn chọn địa bàn nhé.').format(
                place=parsed.place
            )
        )
    if parsed.unit_mismatch:
        unit = _unit_of(ctx, got.get("indicator"))
        lines.append(
            _('Chỉ tiêu này tính bằng "{unit}", không phải "{typed}": bạn nhập lại số.').format(
                unit=unit, typed=parsed.unit_mismatch
            )
        )
    if parsed.period_error is not None:
        lines.append(parsed.period_error.render(_))
    return "\n".join(lines)


@action("report")
async def report(ctx: Context) -> None:
    if not await officers.require_officer(ctx):
        return
    line = ctx.arg if any(c.isdigit() for c in ctx.arg) else ""
    if not await require_consent(ctx, "report", resume="report"):
        return
    ctx.set_state(**{EDITING: None})
    if not line:
        await start_form(ctx, REPORT_FORM)
        return
    lists = _lists(ctx)
    parsed = oneline.parse_line(
        line,
        projects=list(lists.projects),
        indicators=list(lists.indicators),
        tree=areas_of(ctx.content),
        officer_area=ctx.area_code,
        today=_today(ctx),
    )
    lead = _understood(ctx, parsed)
    if lead:
        ctx.say(lead)
    await start_form(ctx, REPORT_FORM, parsed.answers, skip=OPTIONAL)


def _editing(ctx: Context) -> int | None:
    raw = ctx.state.get(EDITING)
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
        return None
    try:
        at = datetime.fromisoformat(str(raw.get("at")))
    except ValueError:
        return None
    if at.tzinfo is None or datetime.now(UTC) - at > EDITING_FOR:
        return None
    return raw["id"]


def _values(ctx: Context, answers: dict[str, Any]) -> dict[str, Any]:
    photo = answers.get("photo") if isinstance(answers.get("photo"), dict) else None
    place = answers.get("location") if isinstance(answers.get("location"), dict) else None
    return {
        "project": int(answers["project"]),
        "indicator": str(answers["indicator"]),
        "area_code": str(answers.get("area") or ctx.area_code or ""),
        "period": str(answers["period"]),
        "value": float(answers["value"]),
        "unit": _unit_of(ctx, answers["indicator"]),
        "note": answers.get("note"),
        "photo_ref": str(photo["ref"]) if photo and photo.get("ref") else None,
        "latitude": float(place["latitude"]) if place else None,
        "longitude": float(place["longitude"]) if place else None,
    }


@submit_handler("report")
async def submit_report(ctx: Context, form: Form, answers: dict[str, Any]) -> str:
    assert ctx.user is not None
    _ = ctx._
    if not officers.is_officer(ctx.user):
        raise SubmitRefused(_("Chỉ cán bộ mới gửi được báo cáo. Gõ /macanbo và mã mời."))
    values = _values(ctx, answers)
    editing = _editing(ctx)
    ctx.set_state(**{EDITING: None})
    if editing is not None:
        r = await repo.get(ctx.session, editing)
        if r is None or r.officer_id != ctx.user.id:
            raise SubmitRefused(_("Không tìm thấy báo cáo này. Gõ /baocaocuatoi để xem lại."))
        if not _editable(ctx, r):
            ctx.set_state(**{EDITING: {"id": editing, "at": datetime.now(UTC).isoformat()}})
            raise SubmitRefused(
                _("Báo cáo #{id} đã quá {hours} giờ hoặc đã rút nên không sửa được nữa.").format(
                    id=r.id, hours=show_number(ctx.settings.reports.edit_window_hours)
                )
                + " "
                + _('Bấm "Hủy", rồi gửi một báo cáo mới nếu cần.')
            )
        changed = await repo.correct(ctx.session, r, values, ctx.user.id, ctx.role)
        if not changed:
            return _("Báo cáo #{id} không có gì thay đổi.").format(id=r.id)
        return (
            _("Đã sửa báo cáo #{id}; bản cũ vẫn được lưu lại.").format(id=r.id)
            + "\n"
            + (describe(ctx, r))
        )
    r = repo.add_report(
        ctx.session,
        **values,
        officer_id=ctx.user.id,
        officer_role=ctx.role,
        officer_area=ctx.area_code,
        channel=ctx.msg.channel,
    )
    await ctx.session.flush()
    hours = show_number(ctx.settings.reports.edit_window_hours)
    return (
        _("Đã nhận báo cáo #{id}. Cảm ơn cán bộ!").format(id=r.id)
        + "\n"
        + describe(ctx, r)
        + "\n"
        + _("Sửa hoặc rút trong {hours} giờ: gõ /baocaocuatoi.").format(hours=hours)
    )


# ---- my reports -----------------------------------------------------------------------------


@action("my_reports")
async def my_reports(ctx: Context) -> None:
    """`/baocaocuatoi` lists; `/baocaocuatoi sua 12` corrects; `/baocaocuatoi rut 12` withdraws
    (after "/baocaocuatoi rut 12 yes")."""
    if not await officers.require_officer(ctx):
        return
    assert ctx.user is not None
    _ = ctx._
    verb, _sep, rest = ctx.arg.strip().partition(" ")
    number, _sep, confirm = rest.strip().lstrip("#").partition(" ")
    if verb in ("sua", "sửa", "rut", "rút") and number.isdigit() and len(number) < 12:
        r = await repo.get(ctx.session, int(number))
        if r is None or r.officer_id != ctx.user.id:
            ctx.say(_("Không tìm thấy báo cáo #{id} của bạn.").format(id=number))
            return
        if not _editable(ctx, r):
            late = _("Báo cáo #{id} đã quá {hours} giờ hoặc đã rút nên không sửa, rút được nữa.")
            hours = show_number(ctx.settings.reports.edit_window_hours)
            ctx.say(late.format(id=r.id, hours=hours))
            return
        if verb in ("sua", "sửa"):
            ctx.set_state(**{EDITING: {"id": r.id, "at": datetime.now(UTC).isoformat()}})
            ctx.say(_("Sửa báo cáo #{id}: chọn mục cần sửa ở bảng dưới.").format(id=r.id))
            await start_form(ctx, REPORT_FORM, _answers_of(r), skip=OPTIONAL)
            return
        if confirm.strip() != "yes":
            ctx.say(
                _("Rút báo cáo này? Báo cáo vẫn được lưu, ghi là đã rút.")
                + "\n"
                + describe(ctx, r),
                buttons=[
                    Button(_("Rút báo cáo"), f"/baocaocuatoi rut {r.id} yes"),
                    Button(_("Không"), "/baocaocuatoi"),
                ],
            )
            return
        await repo.withdraw(ctx.session, r, ctx.user.id, ctx.role)
        ctx.say(_("Đã rút báo cáo #{id}.").format(id=r.id))
        return
    rows = await repo.recent_for(ctx.session, ctx.user.id, LISTED)
    if not rows:
        ctx.say(_("Bạn chưa gửi báo cáo nào. Gõ /baocao để gửi."))
        return
    lines = [_("Các báo cáo gần đây của bạn:")]
    buttons = []
    for r in rows:
        lines.append("- " + describe(ctx, r))
        if _editable(ctx, r):
            buttons.append(Button(_("Sửa #{id}").format(id=r.id), f"/baocaocuatoi sua {r.id}"))
            buttons.append(Button(_("Rút #{id}").format(id=r.id), f"/baocaocuatoi rut {r.id}"))
    hours = show_number(ctx.settings.reports.edit_window_hours)
    lines.append(_("Sửa hoặc rút được trong {hours} giờ sau khi gửi.").format(hours=hours))
    ctx.say("\n".join(lines), buttons=buttons[:20])
