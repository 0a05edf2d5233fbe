"""A training's attendance into the Project 10 indicators (content/indicators.yml).

Once a training a notice announced has taken place, the organiser records it
(`python -m bot notices record-attendance ID [--attended N] [--area CODE]`): one session held
(`p10_buoi`), the people who came (`p10_luot`: the number counted at the door, or by default the
RSVP "yes" answers), one meeting in the count of all meetings (`p10_tong_cuoc`) and, when the
notice gave an online meeting link, one held online (`p10_truc_tuyen`, the plan's 30% target).
They are report rows like an officer's, in the month the training took place and the notice's
commune (or the one given), filed under the role "staff" with no officer (the notice is named in
the note), so the dashboard, its exports and the open data count them; staff review them like
any report. A notice is recorded once: its details keep when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Notice, Report
from bot.storage.repositories import notices as repo

SESSIONS, ATTENDEES, ONLINE, ALL_MEETINGS = (
    "p10_buoi",
    "p10_luot",
    "p10_truc_tuyen",
    "p10_tong_cuoc",
)
RECORDED = "indicators_recorded_at"  # in the notice's details


class Refused(Exception):
    """What to tell the organiser (a short sentence that says what to do)."""


@dataclass(frozen=True)
class Recorded:
    period: str
    area: str
    attended: int
    rows: dict[str, float]  # indicator -> value


def units(content_dir: Path) -> dict[str, str]:
    data = yaml.safe_load((content_dir / "indicators.yml").read_text(encoding="utf-8")) or {}
    return {str(i["code"]): str(i.get("unit", "")) for i in data.get("indicators") or []}


async def record_attendance(
    session: AsyncSession,
    notice: Notice,
    *,
    content_dir: Path,
    tz: tzinfo,
    attended: int | None = None,
    area: str | None = None,
    known_area=lambda code: True,
    now: datetime | None = None,
) -> Recorded:
    """Write the training's indicator rows in the caller's transaction (no commit)."""
    now = now or datetime.now(UTC)
    details = dict(notice.details or {})
    if details.get(RECORDED):
        raise Refused(f"Thông báo {notice.id} đã được ghi vào chỉ tiêu lúc {details[RECORDED]}.")
    if notice.event_at is None:
        raise Refused("Thông báo này không có ngày tập huấn (--date): không có gì để ghi.")
    if notice.event_at > now:
        raise Refused("Buổi tập huấn chưa diễn ra: ghi sau ngày tập huấn.")
    if area is None:
        if len(notice.areas or []) != 1:
            raise Refused("Thông báo gửi nhiều địa bàn (hoặc cả tỉnh): chọn một xã bằng --area.")
        area = notice.areas[0]
    if not known_area(area):
        raise Refused(f"Không có địa bàn {area}: xem python -m bot areas list.")
    if attended is None:
        attended = (await repo.rsvp_counts(session, notice.id))[repo.YES]
    if attended < 0 or attended > 100_000:
        raise Refused("Số người tham dự phải từ 0 đến 100000.")
    found = units(content_dir)
    missing = [c for c in (SESSIONS, ATTENDEES, ALL_MEETINGS, ONLINE) if c not in found]
    if missing:
        raise Refused(f"content/indicators.yml thiếu chỉ tiêu {', '.join(missing)}.")
    values = {SESSIONS: 1.0, ATTENDEES: float(attended), ALL_MEETINGS: 1.0}
    if (notice.details or {}).get("link"):
        values[ONLINE] = 1.0
    period = notice.event_at.astimezone(tz).strftime("%Y-%m")
    title = (notice.title or {}).get("vi", "")
    for code, value in values.items():
        session.add(
            Report(
                project=10,
                indicator=code,
                area_code=area,
                period=period,
                value=value,
                unit=found[code],
                note=f"Thông báo #{notice.id}: {title}"[:500],
                officer_id=None,
                officer_role="staff",
                officer_area=area,
                channel="notice",
                created_at=now,
                updated_at=now,
            )
        )
    details[RECORDED] = now.isoformat(timespec="seconds")
    notice.details = details  # a new dict: the JSON column sees the change
    await session.flush()
    return Recorded(period, area, attended, values)
