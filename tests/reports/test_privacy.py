"""`/dulieu` lists the person's reports and feedback (the chat summary and the export files);
`/xoadulieu` removes the link between a citizen and their feedback (kept anonymised: no user,
phone, photo, location) and keeps an officer's reports as official records attributed to the
role and area only (who filed or changed them is forgotten). SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from bot.privacy import export
from bot.storage.models import Feedback, Report, ReportHistory, User
from tests.conftest import all_text, message
from tests.feedback.test_feedback import file_feedback
from tests.privacy.conftest import traces
from tests.reports.conftest import make_officer, say
from tests.reports.test_reports import file_one_line

PHONE = "0905123456"


async def rows(services, model):
    async with services.sessionmaker() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


async def test_my_data_lists_reports_and_feedback(pipeline, services, settings):
    await make_officer(pipeline, services, "o1")
    await file_one_line(pipeline, "o1", "bc da1 nha o 12 ho thang 11")
    code = await file_feedback(pipeline, "o1", phone=PHONE)
    turn = await pipeline.handle(message("/dulieu", sender="o1", lang="vi"))
    summary, as_json, as_text = turn.replies
    assert "- Báo cáo đã gửi: 1 (xem: /baocaocuatoi)" in summary.text
    assert f"- Phản ánh đã gửi: {code}" in summary.text
    folder = settings.path(settings.privacy.export_dir)
    data = json.loads(export.local_file(as_json.document, folder).read_text("utf-8"))
    [r] = data["reports"]
    assert (r["indicator"], r["value"], r["officer_area"], r["history"]) == (
        "p1_nha_o",
        12,
        "qng.ba_dong",
        [],
    )
    [f] = data["feedback"]
    assert (f["phone"], f["status"], f["description"]) == (
        PHONE,
        "submitted",
        "Đường vào thôn bị sạt lở sau mưa",
    )
    text = export.local_file(as_text.document, folder).read_text("utf-8")
    assert "Báo cáo bạn đã gửi (hồ sơ chính thức" in text and "p1_nha_o: 12 hộ" in text
    assert "Phản ánh bạn đã gửi: 1" in text


async def test_erasure_keeps_reports_by_role_and_area_and_anonymises_feedback(
    pipeline, services, app_parts
):
    await make_officer(pipeline, services, "o1")
    await file_one_line(pipeline, "o1", "bc da1 nha o 12 ho thang 11")
    [r] = await rows(services, Report)
    await say(pipeline, "o1", payload=f"/baocaocuatoi rut {r.id} yes")  # a history row by them
    code = await file_feedback(pipeline, "c1", phone=PHONE)
    async with services.sessionmaker() as s:  # as if they had sent a photo and a place
        await s.execute(
            update(Feedback).values(photo_ref="ab/abcdef.jpg", latitude=15.1, longitude=108.8)
        )
        await s.commit()
    for sender in ("o1", "c1"):
        said = all_text(await pipeline.handle(message("/xoadulieu", sender=sender)))
        said = all_text(await pipeline.handle(message(payload="/delete yes", sender=sender)))
        assert said
    assert not [u for u in await rows(services, User) if u.external_id in ("o1", "c1")]
    [r] = await rows(services, Report)
    assert (r.officer_id, r.officer_role, r.officer_area, r.status) == (
        None,
        "officer",
        "qng.ba_dong",
        "withdrawn",
    )
    [h] = await rows(services, ReportHistory)
    assert (h.changed_by, h.changed_by_role, h.action) == (None, "officer", "withdrawn")
    [fb] = await rows(services, Feedback)
    assert fb.code.startswith(code[:4]) and fb.description == "Đường vào thôn bị sạt lở sau mưa"
    assert (fb.user_id, fb.phone, fb.photo_ref, fb.latitude, fb.longitude) == (
        None,
        None,
        None,
        None,
        None,
    )
    # (replies not sent yet keep their text until sent, as every erasure does: no sender here)
    left = await traces(app_parts[1], [PHONE, "ab/abcdef.jpg"])
    assert [t for t in left if t[0] != "outbox"] == []
    said, _ = await say(pipeline, "someone", code)  # the code still shows the status
    assert "Tình trạng: đã gửi, chờ tiếp nhận." in said and "Nội dung bạn gửi" not in said
