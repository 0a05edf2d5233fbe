"""Issue 11's "done when", on SQLite and PostgreSQL: an officer's report and a citizen's
feedback filed through the chat; a staff member sees both on the dashboard and acts on both
(the report checked, the feedback resolved with a reply that is queued to the citizen); the
open-data page and its CSV show the aggregate, without the officer or the citizen."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from sqlalchemy import select

from bot.storage.models import Feedback, OutboxEntry, Report
from tests.conftest import all_text, message
from tests.feedback.test_feedback import file_feedback
from tests.reports.conftest import make_officer


@pytest.fixture
def settings(settings):
    """Typed as fast as a test types (no flood limit); every cell published (one report)."""
    limits = dataclasses.replace(settings.limits, flood_messages=10_000)
    od = dataclasses.replace(settings.open_data, min_cell_reports=1, recheck_seconds=0.0)
    return dataclasses.replace(settings, limits=limits, open_data=od)


async def test_staff_act_on_what_the_chat_filed_and_open_data_shows_it(
    pipeline, services, staff_client, make_staff, login, post_form
):
    await make_officer(pipeline, services, "off-1")
    turn = await pipeline.handle(message("bc da1 nha o 12 ho thang 11", sender="off-1"))
    assert "Kiểm tra lại" in all_text(turn)
    assert "Đã nhận báo cáo #" in all_text(await pipeline.handle(message("gửi", sender="off-1")))
    code = await file_feedback(pipeline, "cit-1")
    async with services.sessionmaker() as s:
        [report] = (await s.execute(select(Report))).scalars().all()
        [fb] = (await s.execute(select(Feedback))).scalars().all()

    client = await login(staff_client, await make_staff("province"))
    listing = await (await client.get("/staff/reports")).text()
    assert f"/staff/reports/{report.id}" in listing
    detail = f"/staff/reports/{report.id}"
    done = await post_form(client, f"{detail}/review", {"verdict": "checked"}, detail)
    assert done.status == 303
    inbox = await (await client.get("/staff/feedback")).text()
    assert f"/staff/feedback/{fb.id}" in inbox
    fdetail = f"/staff/feedback/{fb.id}"
    done = await post_form(
        client, f"{fdetail}/status", {"status": "resolved", "reply": "Đã sửa xong"}, fdetail
    )
    assert done.status == 303
    async with services.sessionmaker() as s:
        assert (await s.get(Report, report.id)).review == "checked"
        assert (await s.get(Feedback, fb.id)).status == "resolved"
        told = (
            (await s.execute(select(OutboxEntry).where(OutboxEntry.recipient == "cit-1")))
            .scalars()
            .all()
        )
    assert any("Đã sửa xong" in (r.payload or {}).get("text", "") for r in told)
    assert code

    public = await staff_client.session.get(staff_client.make_url("/open-data/indicators.csv"))
    rows = list(csv.DictReader(io.StringIO(await public.text())))
    dong = [r for r in rows if (r["indicator"], r["area_code"]) == ("p1_nha_o", "qng.ba_dong")]
    assert [(r["period"], r["value"]) for r in dong] == [("2026-11", "12")]
    page = await (await staff_client.session.get(staff_client.make_url("/open-data/"))).text()
    assert "Hộ được hỗ trợ làm nhà ở" in page
    for personal in ("off-1", "cit-1", "Đường vào thôn bị sạt lở"):
        assert personal not in page and personal not in "".join(map(str, rows))
