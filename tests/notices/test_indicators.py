"""A training's attendance feeds the Project 10 indicators: after the training, the session,
the people who came (the yes answers unless counted), one meeting and, with an online link, one
held online, as report rows of its commune and month; once only; refused with a short message
before the training, for several areas without --area, or for an unknown area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.notices import indicators
from bot.notices.model import zone
from bot.storage.models import Notice, Report
from bot.storage.repositories import notices as repo
from tests.notices.test_rsvp import answer, training

CONTENT = Path(__file__).resolve().parents[2] / "content"


async def record(services, nid: int, **kw):
    async with services.sessionmaker() as s:
        notice = await repo.get(s, nid)
        done = await indicators.record_attendance(
            s, notice, content_dir=CONTENT, tz=zone(services.settings.timezone), **kw
        )
        await s.commit()
        return done


async def reports(services) -> dict[str, tuple]:
    async with services.sessionmaker() as s:
        rows = (await s.execute(select(Report).order_by(Report.id))).scalars().all()
    return {r.indicator: (r.value, r.unit, r.area_code, r.period, r.project) for r in rows}


async def test_attendance_after_the_training_becomes_project_10_reports(pipeline, services):
    starts = datetime.now(UTC) + timedelta(days=2)
    nid, _people = await training(services, starts)
    for sender in ("r0", "r1", "r2"):
        await answer(pipeline, sender, nid, sender != "r2")
    with pytest.raises(indicators.Refused, match="chưa diễn ra"):
        await record(services, nid)
    later = starts + timedelta(hours=3)
    done = await record(services, nid, now=later)
    month = starts.astimezone(zone(services.settings.timezone)).strftime("%Y-%m")
    assert done.attended == 2  # the yes answers
    assert await reports(services) == {
        "p10_buoi": (1.0, "buổi", "qng.ba_dong", month, 10),
        "p10_luot": (2.0, "lượt người", "qng.ba_dong", month, 10),
        "p10_tong_cuoc": (1.0, "cuộc", "qng.ba_dong", month, 10),
    }  # no online link: not counted as held online
    with pytest.raises(indicators.Refused, match="đã được ghi"):
        await record(services, nid, now=later)
    assert len(await reports(services)) == 3


async def test_online_counted_and_the_counted_attendance_wins(services):
    starts = datetime.now(UTC) + timedelta(days=1)
    nid, _ = await training(services, starts)
    async with services.sessionmaker() as s:
        n = await s.get(Notice, nid)
        n.details = {**(n.details or {}), "link": "https://meet.example.org/x"}
        n.areas = ["qng.ba_dong", "qng.ba_to_21484"]
        await s.commit()
    later = starts + timedelta(hours=2)
    with pytest.raises(indicators.Refused, match="--area"):
        await record(services, nid, now=later)
    with pytest.raises(indicators.Refused, match="Không có địa bàn"):
        await record(services, nid, now=later, area="qng.nowhere", known_area=lambda c: False)
    with pytest.raises(indicators.Refused, match="từ 0 đến"):
        await record(services, nid, now=later, area="qng.ba_dong", attended=-1)
    await record(services, nid, now=later, area="qng.ba_to_21484", attended=37)
    got = await reports(services)
    assert got["p10_luot"][0] == 37.0 and got["p10_truc_tuyen"][:3] == (
        1.0,
        "cuộc",
        "qng.ba_to_21484",
    )
