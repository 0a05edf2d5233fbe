"""The overview: counts per day over a chosen period (messages, questions answered and not,
reports, feedback by status, new subscribers), per channel, language and commune, each as a
server-rendered SVG chart (bot/web/charts.py) with its table under it. Every figure is an
aggregate query (bot/storage/repositories/stats.py). A commune account sees its area's
reports, feedback and subscribers; messages carry no area and are the province's."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from bot.areas import areas_of
from bot.feedback.tracking import STATUS_LABELS
from bot.i18n import LANGUAGES
from bot.staff.auth import current_staff, services_of
from bot.storage.models import Feedback, Report, Subscription
from bot.storage.repositories import stats
from bot.web.charts import bar_chart, hbar_chart

routes = web.RouteTableDef()
NAV = ("Tổng quan", "/staff/overview", 5, None)
PERIODS = (7, 30, 90, 365)
MAX_DAYS = 366
CHANNELS = {"telegram": "Telegram", "zalo": "Zalo OA", "web": "Web", "console": "Dòng lệnh"}
OUTCOMES = {
    stats.ANSWERED: "đã trả lời",
    stats.NOT_ANSWERED: "chưa trả lời được",
    stats.OTHER: "việc khác (lệnh, biểu mẫu...)",
}
FEEDBACK = ("submitted", "received", "in_progress", "resolved", "rejected")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def parse_period(request: web.Request, timezone: str) -> tuple[stats.Period, dict, list[str]]:
    """The period of the query string: `days` (7, 30, 90, 365) ending today, or `from`/`to`."""
    q = request.query
    today = datetime.now(ZoneInfo(timezone)).date()
    errors: list[str] = []
    form = {"days": q.get("days", ""), "from": q.get("from", "")[:10], "to": q.get("to", "")[:10]}
    start, end = _date(form["from"]), _date(form["to"])
    if (form["from"] and start is None) or (form["to"] and end is None):
        errors.append("Ngày dạng 2026-12-01.")
        start = end = None
    if start or end:
        end = end or today
        start = start or end - timedelta(days=29)
        if start > end:
            errors.append("Ngày bắt đầu phải trước ngày kết thúc.")
            start, end = end, start
        if (end - start).days + 1 > MAX_DAYS:
            errors.append(f"Tối đa {MAX_DAYS} ngày: đã rút ngắn.")
            start = end - timedelta(days=MAX_DAYS - 1)
        form["days"] = ""
    else:
        days = int(form["days"]) if form["days"].isdigit() else 30
        days = days if days in PERIODS else 30
        form["days"] = str(days)
        end, start = today, today - timedelta(days=days - 1)
    form["from"], form["to"] = start.isoformat(), end.isoformat()
    return stats.Period(start, end, timezone), form, errors


def _day_label(day: str) -> str:
    return f"{day[8:10]}/{day[5:7]}"


@routes.get("/staff/overview")
async def overview(request: web.Request) -> web.StreamResponse:
    staff = await current_staff(request)
    services = services_of(request)
    period, form, errors = parse_period(request, services.settings.timezone)
    async with services.sessionmaker() as session:
        o = await stats.overview(
            session,
            period,
            report_area=staff.area_clause(Report.area_code),
            feedback_area=staff.area_clause(Feedback.area_code),
            subscription_area=staff.area_clause(Subscription.area_code),
        )
    tree = areas_of(services.content)

    def area_name(code: str) -> str:
        if not code:
            return "chưa rõ"
        area = tree.get(code)
        return area.name if area is not None else code

    days = o.messages.days
    labels = [_day_label(d) for d in days]
    msg_total = [sum(v) for v in zip(*(o.messages.per_day(k) for k in OUTCOMES), strict=True)]
    msg_rows = [
        (labels[i], *(o.messages.per_day(k)[i] for k in OUTCOMES), msg_total[i])
        for i in range(len(days))
    ]
    answered, unanswered = stats.outcome_share(o.messages)
    fb_keys = [k for k in FEEDBACK if k in o.feedback.rows] + sorted(
        k for k in o.feedback.rows if k not in FEEDBACK
    )
    fb_total = [sum(o.feedback.per_day(k)[i] for k in fb_keys) for i in range(len(days))]
    fb_rows = [
        (labels[i], *(o.feedback.per_day(k)[i] for k in fb_keys), fb_total[i])
        for i in range(len(days))
    ]
    reports_day = o.reports.per_day("reports")
    subs_day = o.subscribers.per_day("new")
    communes = stats.top(stats.roll_up(o.reports_by_area), 15)
    fb_communes = stats.top(stats.roll_up(o.feedback_by_area), 15)
    sub_communes = stats.top(stats.roll_up(o.subscribers_by_area), 15)
    span = f"{period.start:%d/%m/%Y} – {period.end:%d/%m/%Y}"

    def by_day(title: str, values: list[int], unit: str) -> object:
        return bar_chart(list(zip(labels, values, strict=True)), title=title, unit=unit)

    charts = {
        "messages": by_day(f"Tin nhắn mỗi ngày, {span}", msg_total, "tin"),
        "outcomes": hbar_chart(
            [(OUTCOMES[k], o.messages.total(k)) for k in OUTCOMES],
            title=f"Tin nhắn theo kết quả, {span}",
            unit="tin",
        ),
        "channels": hbar_chart(
            [(CHANNELS.get(k, k), v) for k, v in stats.top(o.messages_by_channel, 10)],
            title=f"Tin nhắn theo kênh, {span}",
            unit="tin",
        ),
        "langs": hbar_chart(
            [(LANGUAGES.get(k, k), v) for k, v in stats.top(o.messages_by_lang, 10)],
            title=f"Tin nhắn theo ngôn ngữ, {span}",
            unit="tin",
        ),
        "reports": by_day(f"Báo cáo mỗi ngày, {span}", reports_day, "báo cáo"),
        "report_areas": hbar_chart(
            [(area_name(k), v) for k, v in communes],
            title=f"Báo cáo theo xã, {span}",
            unit="báo cáo",
        ),
        "feedback": by_day(f"Phản ánh mỗi ngày, {span}", fb_total, "phản ánh"),
        "feedback_status": hbar_chart(
            [(STATUS_LABELS.get(k, k), o.feedback.total(k)) for k in fb_keys],
            title=f"Phản ánh theo tình trạng, {span}",
            unit="phản ánh",
        ),
        "feedback_areas": hbar_chart(
            [(area_name(k), v) for k, v in fb_communes],
            title=f"Phản ánh theo xã, {span}",
            unit="phản ánh",
        ),
        "subscribers": by_day(f"Người đăng ký mới mỗi ngày, {span}", subs_day, "người"),
        "sub_langs": hbar_chart(
            [(LANGUAGES.get(k, k), v) for k, v in stats.top(o.subscribers_by_lang, 10)],
            title="Người đang nhận thông báo, theo ngôn ngữ",
            unit="người",
        ),
        "sub_areas": hbar_chart(
            [(area_name(k), v) for k, v in sub_communes],
            title="Người đang nhận thông báo, theo xã",
            unit="người",
        ),
    }
    return aiohttp_jinja2.render_template(
        "overview/index.html",
        request,
        {
            "form": form,
            "errors": errors,
            "periods": PERIODS,
            "span": span,
            "charts": charts,
            "outcomes": OUTCOMES,
            "msg_rows": msg_rows,
            "answered": answered,
            "unanswered": unanswered,
            "o": o,
            "channels": CHANNELS,
            "languages": LANGUAGES,
            "labels": labels,
            "reports_day": reports_day,
            "communes": [(area_name(k), v) for k, v in communes],
            "fb_keys": fb_keys,
            "fb_labels": [STATUS_LABELS.get(k, k) for k in fb_keys],
            "fb_rows": fb_rows,
            "fb_communes": [(area_name(k), v) for k, v in fb_communes],
            "fb_status_rows": [(STATUS_LABELS.get(k, k), o.feedback.total(k)) for k in fb_keys],
            "subs_day": subs_day,
            "sub_communes": [(area_name(k), v) for k, v in sub_communes],
            "commune_view": staff.role == "commune",
            "outcome_rows": [(OUTCOMES[k], o.messages.total(k)) for k in OUTCOMES],
            "channel_rows": [
                (CHANNELS.get(k, k), v) for k, v in stats.top(o.messages_by_channel, 10)
            ],
            "lang_rows": [(LANGUAGES.get(k, k), v) for k, v in stats.top(o.messages_by_lang, 10)],
            "report_rows": list(zip(labels, reports_day, strict=True)),
            "sub_rows": list(zip(labels, subs_day, strict=True)),
            "sub_lang_rows": [
                (LANGUAGES.get(k, k), v) for k, v in stats.top(o.subscribers_by_lang, 10)
            ],
        },
    )
