"""Officers' quick reports through the whole pipeline (SQLite and PostgreSQL): filed in one line
and by the form, the rows written (officer, role, area), `/baocaocuatoi`, corrections kept in
report_history, withdrawal, the edit window, and who may do what."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.app import build_pipeline
from bot.storage.models import Report, ReportHistory, User
from tests.reports.conftest import make_officer, say


async def reports(services) -> list[Report]:
    async with services.sessionmaker() as s:
        return list((await s.execute(select(Report).order_by(Report.id))).scalars())


async def history(services, report_id: int) -> list[ReportHistory]:
    async with services.sessionmaker() as s:
        q = select(ReportHistory).where(ReportHistory.report_id == report_id)
        return list((await s.execute(q.order_by(ReportHistory.id))).scalars())


async def user_id(services, sender: str) -> int:
    async with services.sessionmaker() as s:
        q = select(User.id).where(User.external_id == sender)
        return (await s.execute(q)).scalar_one()


async def file_one_line(pipeline, sender: str, line: str) -> str:
    said, _ = await say(pipeline, sender, line)
    assert "Kiểm tra lại Báo cáo nhanh tiến độ:" in said, said
    done, _ = await say(pipeline, sender, "gửi")
    assert "Đã nhận báo cáo #" in done, done
    return said + "\n" + done


async def test_a_one_line_report_fills_the_form_and_is_filed(pipeline, services):
    await make_officer(pipeline, services, "o1")
    said = await file_one_line(pipeline, "o1", "bc du an 1 nha o 12 ho thang 11")
    assert "Tôi hiểu: dự án 1; Hộ được hỗ trợ làm nhà ở; xã Ba Động;" in said
    assert "- Số lượng: 12 hộ" in said
    assert "- Ghi chú: (bỏ qua)" in said  # the optional fields are not asked; editable
    [r] = await reports(services)
    assert (r.project, r.indicator, r.area_code, r.value, r.unit) == (
        1,
        "p1_nha_o",
        "qng.ba_dong",
        12,
        "hộ",
    )
    assert r.period.endswith("-11") and r.status == "submitted" and r.version == 1
    assert (r.officer_id, r.officer_role, r.officer_area, r.channel) == (
        await user_id(services, "o1"),
        "officer",
        "qng.ba_dong",
        "web",
    )


async def test_a_one_line_report_asks_only_for_what_is_missing(pipeline, services):
    await make_officer(pipeline, services, "o1")
    said, _ = await say(pipeline, "o1", "bc da1 12 ho thang 11")
    assert "Chỉ tiêu nào?" in said and "Dự án" not in said.split("Chỉ tiêu nào?")[0]
    said, _ = await say(pipeline, "o1", "nuoc")
    assert "Kiểm tra lại Báo cáo nhanh tiến độ:" in said, said
    assert "- Chỉ tiêu: Hộ được hỗ trợ nước sinh hoạt phân tán" in said
    done, _ = await say(pipeline, "o1", "gửi")
    assert "Đã nhận báo cáo #" in done
    [r] = await reports(services)
    assert (r.indicator, r.value) == ("p1_nuoc", 12)


async def test_the_report_form_from_the_command(pipeline, services):
    await make_officer(pipeline, services, "o1")
    said, buttons = await say(pipeline, "o1", "/baocao")
    assert "Báo cáo cho dự án nào?" in said
    said, _ = await say(pipeline, "o1", payload=buttons[0])  # dự án 1
    assert "Chỉ tiêu nào?" in said
    said, buttons = await say(pipeline, "o1", "nha o")
    assert "Ở địa bàn nào?" in said
    assert buttons[0] == "/form v qng.ba_dong"  # the officer's area first
    said, _ = await say(pipeline, "o1", payload=buttons[0])
    said, _ = await say(pipeline, "o1", "tháng 11")
    assert "Đạt được bao nhiêu?" in said and "(đơn vị: hộ)" in said
    for typed in ("1.500 hộ", "bỏ qua", "bỏ qua", "bỏ qua"):
        said, _ = await say(pipeline, "o1", typed)
    assert "- Số lượng: 1.500 hộ" in said
    done, _ = await say(pipeline, "o1", "gửi")
    assert "Đã nhận báo cáo #" in done
    [r] = await reports(services)
    assert (r.value, r.note, r.photo_ref, r.latitude) == (1500, None, None, None)


async def test_villagers_cannot_report(pipeline, services):
    said, _ = await say(pipeline, "v1", "/baocao")
    assert "Phần này dành cho cán bộ" in said
    said, _ = await say(pipeline, "v1", "bc da1 nha o 12 ho thang 11")
    assert "Kiểm tra lại Báo cáo" not in said  # not a shortcut for a villager: the NLU has it
    assert await reports(services) == []


async def test_my_reports_lists_and_a_correction_keeps_the_old_values(pipeline, services):
    await make_officer(pipeline, services, "o1")
    await file_one_line(pipeline, "o1", "bc da1 nha o 12 ho thang 11")
    [r] = await reports(services)
    said, buttons = await say(pipeline, "o1", "/baocaocuatoi")
    assert f"#{r.id} · tháng 11/" in said and "Hộ được hỗ trợ làm nhà ở: 12 hộ" in said
    assert f"/baocaocuatoi sua {r.id}" in buttons and f"/baocaocuatoi rut {r.id}" in buttons
    said, _ = await say(pipeline, "o1", payload=f"/baocaocuatoi sua {r.id}")
    assert f"Sửa báo cáo #{r.id}" in said and "- Số lượng: 12 hộ" in said
    said, _ = await say(pipeline, "o1", "sửa")
    said, _ = await say(pipeline, "o1", payload="/form f value")
    assert "Đạt được bao nhiêu?" in said
    said, _ = await say(pipeline, "o1", "15")
    assert "- Số lượng: 15 hộ" in said
    done, _ = await say(pipeline, "o1", "gửi")
    assert f"Đã sửa báo cáo #{r.id}; bản cũ vẫn được lưu lại." in done
    [after] = await reports(services)
    assert (after.id, after.value, after.version) == (r.id, 15, 2)
    [h] = await history(services, r.id)
    officer = await user_id(services, "o1")
    assert (h.action, h.old_values, h.new_values) == ("corrected", {"value": 12.0}, {"value": 15.0})
    assert (h.changed_by, h.changed_by_role) == (officer, "officer")
    said, _ = await say(pipeline, "o1", "/baocaocuatoi")
    assert "[đã sửa]" in said
    # the next /baocao is a new report, not another correction
    await file_one_line(pipeline, "o1", "bc da1 nuoc 3 ho thang 11")
    assert [x.value for x in await reports(services)] == [15, 3]
    assert len(await history(services, r.id)) == 1


async def test_withdraw_keeps_the_report_marked(pipeline, services):
    await make_officer(pipeline, services, "o1")
    await file_one_line(pipeline, "o1", "bc da1 nha o 12 ho thang 11")
    [r] = await reports(services)
    said, buttons = await say(pipeline, "o1", payload=f"/baocaocuatoi rut {r.id}")
    assert "Rút báo cáo này?" in said and f"/baocaocuatoi rut {r.id} yes" in buttons
    assert (await reports(services))[0].status == "submitted"  # asked first
    said, _ = await say(pipeline, "o1", payload=f"/baocaocuatoi rut {r.id} yes")
    assert f"Đã rút báo cáo #{r.id}." in said
    [after] = await reports(services)
    assert (after.status, after.value) == ("withdrawn", 12)
    [h] = await history(services, r.id)
    assert (h.action, h.old_values, h.new_values) == (
        "withdrawn",
        {"status": "submitted"},
        {"status": "withdrawn"},
    )
    said, buttons = await say(pipeline, "o1", "/baocaocuatoi")
    assert "[đã rút]" in said and not buttons
    said, _ = await say(pipeline, "o1", payload=f"/baocaocuatoi sua {r.id}")
    assert "không sửa, rút được nữa" in said


async def test_the_edit_window(pipeline, services):
    await make_officer(pipeline, services, "o1")
    await file_one_line(pipeline, "o1", "bc da1 nha o 12 ho thang 11")
    [r] = await reports(services)
    # a correction opened in time, sent after the window: refused, nothing changed
    said, _ = await say(pipeline, "o1", payload=f"/baocaocuatoi sua {r.id}")
    async with services.sessionmaker() as s:
        old = datetime.now(UTC) - timedelta(hours=49)
        await s.execute(update(Report).where(Report.id == r.id).values(created_at=old))
        await s.commit()
    said, _ = await say(pipeline, "o1", "gửi")
    assert "đã quá 48 giờ" in said and "Đã sửa" not in said
    said, buttons = await say(pipeline, "o1", "/baocaocuatoi")
    assert f"#{r.id}" in said and not buttons
    said, _ = await say(pipeline, "o1", payload=f"/baocaocuatoi rut {r.id} yes")
    assert "không sửa, rút được nữa" in said
    assert (await reports(services))[0].status == "submitted"
    assert await history(services, r.id) == []


async def test_the_edit_window_is_a_setting(pipeline, services):
    settings = dataclasses.replace(
        services.settings,
        reports=dataclasses.replace(services.settings.reports, edit_window_hours=100),
    )
    longer = build_pipeline(dataclasses.replace(services, settings=settings))
    await make_officer(longer, services, "o1")
    await file_one_line(longer, "o1", "bc da1 nha o 12 ho thang 11")
    [r] = await reports(services)
    async with services.sessionmaker() as s:
        old = datetime.now(UTC) - timedelta(hours=49)
        await s.execute(update(Report).where(Report.id == r.id).values(created_at=old))
        await s.commit()
    said, buttons = await say(longer, "o1", "/baocaocuatoi")
    assert f"/baocaocuatoi sua {r.id}" in buttons and "trong 100 giờ" in said
    said, _ = await say(pipeline, "o1", "/baocaocuatoi")  # the default, 48 hours
    assert "trong 48 giờ" in said


async def test_an_officer_cannot_touch_another_officers_report(pipeline, services):
    await make_officer(pipeline, services, "o1")
    await make_officer(pipeline, services, "o2")
    await file_one_line(pipeline, "o1", "bc da1 nha o 12 ho thang 11")
    [r] = await reports(services)
    for verb in ("sua", f"rut {r.id} yes"):
        payload = f"/baocaocuatoi {verb}" if verb.startswith("rut") else f"/baocaocuatoi sua {r.id}"
        said, _ = await say(pipeline, "o2", payload=payload)
        assert f"Không tìm thấy báo cáo #{r.id} của bạn." in said
    assert (await reports(services))[0].status == "submitted"


async def test_a_one_line_report_after_the_command(pipeline, services):
    await make_officer(pipeline, services, "o1")
    said, _ = await say(pipeline, "o1", "/baocao da1 nuoc 7 ho thang 11")
    assert "Tôi hiểu: dự án 1; Hộ được hỗ trợ nước sinh hoạt" in said
    assert "Kiểm tra lại Báo cáo nhanh tiến độ:" in said
    await say(pipeline, "o1", "hủy")  # (while a form waits, what is typed is its answer)
    said, _ = await say(pipeline, "o1", "bc da1 nuoc thon 99 7 ho thang 11")
    assert 'Tôi không tìm thấy "thon 99" trong danh sách địa bàn' in said
    assert "Ở địa bàn nào?" in said
