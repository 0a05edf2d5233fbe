"""The form engine through the whole pipeline: every field type, relevant and constraint, back,
skip, cancel, edit from the summary, invalid input, a question mid-form, restart, paging and
search, stale buttons, a form with no submit handler."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import build_pipeline
from bot.messages import Location, Media
from bot.storage.models import User

PHOTO = Media("photo", "media/ab12.jpg", "image/jpeg", 1234)
VOICE = Media("voice", "media/cd34.ogg", "audio/ogg", 999)


async def state_of(services, sender: str) -> dict:
    async with services.sessionmaker() as s:
        user = (
            await s.execute(select(User).where(User.channel == "web", User.external_id == sender))
        ).scalar_one()
        return user.state.get("flow") or {}


async def test_every_field_type_is_asked_and_answered(chat):
    await chat.start("types")
    assert "Tên của bạn?" in chat.text
    await chat("Hà Thị Lan")
    assert "Bao nhiêu hộ?" in chat.text and "(đơn vị: hộ)" in chat.text
    await chat("12 hộ")
    await chat("1.500,5 triệu đồng")
    assert "Loại hỗ trợ nước?" in chat.text
    assert chat.payloads[:2] == ["/form v tank", "/form v pipe"]
    await chat("2")  # a typed number picks the second button
    assert "Đã nhận những gì?" in chat.text
    await chat("1")
    assert "✓ Gạo" in chat.text
    await chat(payload="/form t c")
    await chat("xong")
    assert "Ngày nào?" in chat.text
    await chat("15/11/2026")
    await chat("quý 3/2026")
    await chat("có")
    await chat(media=(PHOTO,))
    assert "Gửi ghi âm." in chat.text
    await chat(media=(VOICE,))
    await chat(location=Location(15.1, 108.8))
    await chat("0905 123 456")
    assert "Kiểm tra lại Phiếu thử:" in chat.text
    for line in (
        "- Tên: Hà Thị Lan",
        "- Số hộ: 12 hộ",
        "- Số tiền: 1.500,5 triệu đồng",
        "- Loại: Ống dẫn nước",
        "- Nhận gì: Gạo, Dầu ăn",
        "- Ngày: 15/11/2026",
        "- Kỳ: quý 3/2026",
        "- Đồng ý: Có",
        "- Ảnh: đã gửi ảnh",
        "- Vị trí: đã gửi vị trí",
    ):
        assert line in chat.text
    await chat(payload="/form confirm")
    assert chat.submitted() == [
        {
            "name": "Hà Thị Lan",
            "households": 12,
            "amount": 1500.5,
            "water": "pipe",
            "kinds": ["a", "c"],
            "day": "2026-11-15",
            "period": "2026-Q3",
            "ok": True,
            "photo": {
                "kind": "photo",
                "ref": "media/ab12.jpg",
                "mime_type": "image/jpeg",
                "size": 1234,
            },
            "voice": {
                "kind": "voice",
                "ref": "media/cd34.ogg",
                "mime_type": "audio/ogg",
                "size": 999,
            },
            "place": {"latitude": 15.1, "longitude": 108.8},
            "phone": "0905123456",
        }
    ]
    assert "Đã nhận types" in chat.text
    assert await state_of(chat.pipeline.services, chat.sender) == {}


# Each field of the "types" form, an answer it must refuse, and what the refusal says.
INVALID = [
    ("households", "nhiều lắm", "Nhập một số, ví dụ 12."),
    ("households", "2,5", "Nhập một số nguyên, không có phần lẻ, ví dụ 12."),
    ("households", "501", "Số phải không quá 500."),
    ("households", "-1", "Số phải từ 0 trở lên."),
    ("amount", "12 con gà", "Nhập một số, ví dụ 12."),
    ("water", "xe máy", 'Không tìm thấy "xe máy". Gõ lại, hoặc chọn trong danh sách.'),
    ("kinds", "xong", "Chọn ít nhất một mục."),
    ("day", "31/02/2026", "Nhập ngày theo dạng ngày/tháng/năm, ví dụ 15/11/2026."),
    ("period", "2026", "Nhập kỳ báo cáo, ví dụ tháng 11, quý 3."),
    ("period", "tháng 13", "Tháng phải từ 1 đến 12"),
    ("ok", "để xem", 'Trả lời "có" hoặc "không".'),
    ("photo", "ảnh đây", "Tôi cần một ảnh: bấm nút đính kèm và chọn ảnh."),
    ("voice", "alo", "Tôi cần một tin nhắn thoại hoặc tệp âm thanh."),
    ("place", "ở nhà", "Tôi cần một vị trí"),
    ("phone", "12345", "Số điện thoại chưa đúng. Nhập số Việt Nam 10 chữ số"),
    ("name", "x" * 41, "Dài quá: tối đa 40 ký tự."),
]
BEFORE = {
    "name": "An",
    "households": 3,
    "amount": 2,
    "water": "tank",
    "kinds": ["a"],
    "day": "2026-11-01",
    "period": "2026-11",
    "ok": True,
    "photo": {"kind": "photo", "ref": "x", "mime_type": None, "size": None},
    "voice": {"kind": "voice", "ref": "y", "mime_type": None, "size": None},
    "place": {"latitude": 1.0, "longitude": 2.0},
}


@pytest.mark.parametrize(
    ("field", "typed", "says"), INVALID, ids=[f"{f}-{t[:8]}" for f, t, _ in INVALID]
)
async def test_invalid_input_says_what_is_right_and_stays_on_the_field(chat, field, typed, says):
    order = list(BEFORE) + ["phone"]
    given = {k: BEFORE[k] for k in order[: order.index(field)]}
    await chat.start("types", **given)
    assert (await state_of(chat.pipeline.services, chat.sender))["step"] == field
    await chat(typed)
    assert says in chat.text
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["step"] == field and field not in state["data"]["answers"]
    assert chat.submitted() == []


async def test_relevant_skips_a_field_and_the_constraint_checks_earlier_answers(chat):
    await chat.start("logic")
    assert chat.payloads[:10] == [f"/form v {n}" for n in range(1, 11)]
    await chat("1")  # project 1
    assert "Hộ được hỗ trợ làm nhà ở" in chat.text and "Lớp tập huấn" not in chat.text
    assert "Người được đào tạo nghề" not in chat.text  # project 5's indicator: filtered out
    await chat(payload="/form v p1_nha_o")
    assert "(đơn vị: hộ)" in chat.text  # the unit comes from the indicator
    await chat("150 hộ")
    assert "Dự án 1 báo cáo tối đa 100." in chat.text
    await chat("80")
    await chat("không")  # no note: the note field is not relevant
    assert "Ở xã nào?" in chat.text and "Ghi chú gì?" not in chat.text
    assert chat.payloads[0] == "/form v qng.son_tay"  # the default first
    await chat("1")
    assert "- Số lượng: 80 hộ" in chat.text and "Ghi chú" not in chat.text.split("Kiểm tra")[1]
    await chat("gửi")
    assert chat.submitted() == [
        {
            "project": 1,
            "indicator": "p1_nha_o",
            "value": 80,
            "has_note": False,
            "area": "qng.son_tay",
        }
    ]


async def test_relevant_field_is_asked_when_its_condition_holds(chat):
    await chat.start("logic", project=5, indicator="p5_hoc_nghe", value=250)
    assert "Có ghi chú không?" in chat.text  # project 5: the constraint lets 250 through
    await chat("có")
    assert "Ghi chú gì?" in chat.text
    await chat("Lớp học nghề mộc")
    await chat("son tay")
    assert "- Ghi chú: Lớp học nghề mộc" in chat.text


async def test_back_goes_one_step_and_forgets_that_answer(chat):
    await chat.start("types")
    await chat("An")
    await chat("quay lại")
    assert "Tên của bạn?" in chat.text
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["step"] == "name" and state["data"]["answers"] == {}
    await chat("quay lại")
    assert "Đây là câu hỏi đầu tiên." in chat.text
    await chat("Bình")
    await chat(payload="/form back")
    await chat("Chi")
    await chat("5")
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["data"]["answers"] == {"name": "Chi", "households": 5}


async def test_skip_an_optional_field_but_not_a_required_one(chat):
    await chat.start("types", **{k: BEFORE[k] for k in list(BEFORE)[:8]})
    assert "Gửi ảnh." in chat.text
    await chat("bỏ qua")
    assert "Câu này cần trả lời, không bỏ qua được." in chat.text
    await chat(media=(PHOTO,))
    await chat("bo qua")  # the voice
    assert "Gửi vị trí." in chat.text
    await chat(payload="/form skip")
    await chat("bỏ qua")
    assert "- Ghi âm: (bỏ qua)" in chat.text
    await chat(payload="/form confirm")
    [answers] = chat.submitted()
    assert "voice" not in answers and "place" not in answers and "phone" not in answers


@pytest.mark.parametrize("how", ["hủy", "Huy", "/huy", "button"])
async def test_cancel_at_any_step(chat, how):
    await chat.start("types", name="An")
    if how == "button":
        await chat(payload="/form cancel")
    else:
        await chat(how)
    assert "Đã hủy Phiếu thử. Không có gì được gửi." in chat.text
    assert await state_of(chat.pipeline.services, chat.sender) == {}
    await chat("/huy")
    assert "Không có biểu mẫu nào đang điền." in chat.text
    assert chat.submitted() == []


async def test_edit_one_field_from_the_summary(chat):
    await chat.start("types", **BEFORE)
    await chat("bỏ qua")  # phone: now the summary
    assert "- Số hộ: 3 hộ" in chat.text
    await chat(payload="/form edit")
    assert "Bạn muốn sửa mục nào?" in chat.text
    assert "/form f households" in chat.payloads
    await chat(payload="/form f households")
    assert "Bao nhiêu hộ?" in chat.text
    await chat("7")
    assert "Kiểm tra lại Phiếu thử:" in chat.text  # straight back to the summary
    assert "- Số hộ: 7 hộ" in chat.text and "- Tên: An" in chat.text
    await chat("sửa")
    await chat("dien thoai")  # a field chosen by its label, typed
    assert "Số điện thoại?" in chat.text
    await chat("0912345678")
    await chat("gửi")
    [answers] = chat.submitted()
    assert answers["households"] == 7 and answers["phone"] == "0912345678"
    assert answers["name"] == "An" and answers["kinds"] == ["a"]


async def test_editing_the_project_asks_again_for_an_indicator_it_no_longer_has(chat):
    await chat.start("logic", project=1, indicator="p1_nha_o", value=5, has_note=False)
    await chat("1")  # the area: summary
    await chat(payload="/form edit")
    await chat(payload="/form f project")
    await chat("5")
    assert "Chỉ tiêu nào?" in chat.text and "Người được đào tạo nghề" in chat.text
    await chat(payload="/form v p5_hoc_nghe")
    assert "Kiểm tra lại" in chat.text and "Người được đào tạo nghề" in chat.text


async def test_a_question_mid_form_is_answered_and_the_form_continues(chat):
    await chat.start("types", name="An")
    turn = await chat("hỗ trợ làm nhà")
    assert turn.answer_id == "support.housing" and "40 triệu" in chat.text
    assert "Tiếp tục Phiếu thử:" in chat.text and chat.text.rstrip().endswith("Hủy")
    assert "Bao nhiêu hộ?" in chat.text
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["step"] == "households"
    await chat("4")
    assert (await state_of(chat.pipeline.services, chat.sender))["data"]["answers"][
        "households"
    ] == 4


async def test_a_text_field_takes_text_unless_it_reads_as_a_question(chat):
    await chat.start("types")
    await chat("ho tro lam nha bao nhieu")  # a question word at the end, and the NLU agrees
    assert "40 triệu" in chat.text and "Tên của bạn?" in chat.text
    await chat("hỗ trợ làm nhà")  # no question word: it is the answer
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["data"]["answers"]["name"] == "hỗ trợ làm nhà"
    assert state["step"] == "households"


async def test_a_restart_resumes_at_the_same_field(chat, form_services):
    await chat.start("types", name="An")
    await chat("12")
    chat.pipeline = build_pipeline(form_services)  # a new process on the same database
    await chat("2,5")
    assert "Loại hỗ trợ nước?" in chat.text
    state = await state_of(form_services, chat.sender)
    assert state["data"]["answers"] == {"name": "An", "households": 12, "amount": 2.5}


async def test_a_long_list_is_paged_and_searched_without_diacritics_and_by_former_name(chat):
    await chat.start("logic", project=1, indicator="p1_nha_o", value=5, has_note=False)
    assert "Trang 1/2." in chat.text and "/form more" in chat.payloads
    assert len([p for p in chat.payloads if p.startswith("/form v ")]) == 8
    await chat("xem thêm")
    assert "Trang 2/2." in chat.text and "/form prev" in chat.payloads
    assert len([p for p in chat.payloads if p.startswith("/form v ")]) == 4
    await chat("ba")
    assert 'Kết quả tìm "ba":' in chat.text
    assert {"/form v qng.ba_dong", "/form v qng.ba_to", "/form v qng.ba_vi"} <= set(chat.payloads)
    await chat("xa ba thanh")  # the former name: one match, chosen
    assert "Đã chọn xã Ba Thành cũ, nay là xã Ba Động." in chat.text
    assert "- Địa bàn: xã Ba Động" in chat.text


async def test_search_shows_the_former_name_it_matched(chat):
    await chat.start("logic", project=1, indicator="p1_nha_o", value=5, has_note=False)
    await chat("ba d")
    assert "xã Ba Động (xã Ba Dinh cũ)" in chat.text or "xã Ba Động" in chat.text
    await chat("ba do")
    assert "- Địa bàn: xã Ba Động" in chat.text


async def test_a_typed_digit_on_a_number_field_is_the_number_not_a_button(chat):
    await chat.start("types", name="An")
    assert chat.payloads == ["/form back", "/form cancel"]
    await chat("2")  # the second button is "Hủy"; typed, it is 2 households
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["data"]["answers"]["households"] == 2


async def test_an_old_button_is_refused_and_the_field_asked_again(chat):
    await chat.start("types", name="An", households=1, amount=1)
    await chat(payload="/form v tank")
    await chat(payload="/form v pipe")  # the water question is gone: now the multi-choice
    assert "Nút này thuộc câu hỏi trước." in chat.text and "Đã nhận những gì?" in chat.text
    await chat("xong")
    await chat("/huy")
    await chat(payload="/form v tank")
    assert "Biểu mẫu này đã kết thúc." in chat.text


async def test_a_form_without_its_submit_handler_says_so_and_keeps_the_answers(chat):
    await chat.start("nohandler")
    await chat("An")
    await chat("gửi")
    assert "hiện chưa gửi được Phiếu chưa có nơi nhận" in chat.text
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["step"] == "summary" and state["data"]["answers"] == {"name": "An"}


async def test_media_problem_is_said_and_the_field_waits(chat):
    """The media part sets `media_problem` on a message whose download failed."""
    import dataclasses

    from bot.messages import IncomingMessage
    from tests.conftest import message

    class FailedDownload(IncomingMessage):  # no __slots__: takes the attribute
        pass

    await chat.start("types", **{k: BEFORE[k] for k in list(BEFORE)[:8]})
    base = message(sender=chat.sender, media=(PHOTO,), lang="vi")
    msg = FailedDownload(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    object.__setattr__(msg, "media_problem", "Ảnh tải không được, bạn gửi lại nhé.")
    chat.turn = await chat.pipeline.handle(msg)
    assert "Ảnh tải không được, bạn gửi lại nhé." in chat.text and "Gửi ảnh." in chat.text
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["step"] == "photo" and "photo" not in state["data"]["answers"]


async def test_a_photo_outside_a_photo_field_does_not_end_another_flow(pipeline):
    from tests.conftest import all_text, message

    await pipeline.handle(message("/subscribe", sender="mp"))
    turn = await pipeline.handle(message(sender="mp", media=(PHOTO,)))
    assert "Tôi đã nhận ảnh hoặc vị trí" in all_text(turn)
    turn = await pipeline.handle(message("đồng ý", sender="mp"))
    assert "Đã đăng ký" in all_text(turn)


async def test_several_options_typed_at_once(chat):
    await chat.start("types", name="An", households=1, amount=1, water="tank")
    await chat("1, 3")
    assert "Ngày nào?" in chat.text
    await chat("quay lại")
    await chat("gao; muoi")
    state = await state_of(chat.pipeline.services, chat.sender)
    assert state["data"]["answers"]["kinds"] == ["a", "b"]


async def test_the_shipped_forms_start_from_their_commands(services):
    """/baocao and /phananh: consent, then the shipped form, up to its summary."""
    import dataclasses

    from tests.conftest import all_text, message
    from tests.fakes.nlu import FakeNlu, understood

    limits = dataclasses.replace(services.settings.limits, flood_messages=10_000)
    settings = dataclasses.replace(services.settings, limits=limits)
    nlu = FakeNlu(
        {"ho tro lam nha bao nhieu": understood("ask_policy", answer_id="support.housing")}
    )
    pipeline = build_pipeline(dataclasses.replace(services, nlu=nlu, settings=settings))

    async def say(text="", payload=None, sender="ship"):
        return all_text(
            await pipeline.handle(message(text, sender=sender, payload=payload, lang="vi"))
        )

    await say("/help")  # the user row; /baocao is for officers (actions/reports.py)
    communes = [a for a in services.content.areas if a.level == "commune"]
    mine = communes[-1]  # an officer of the last commune: it comes first in the list
    async with services.sessionmaker() as s:
        user = (await s.execute(select(User).where(User.external_id == "ship"))).scalar_one()
        user.role, user.area_code = "officer", mine.code
        await s.commit()
    await say("/baocao")
    said = await say(payload="/consent yes")
    assert "Báo cáo cho dự án nào?" in said and "Dự án 10:" in said
    said = await say("1")
    assert "Hộ được hỗ trợ làm nhà ở" in said and "Người được đào tạo nghề" not in said
    said = await say("1")
    assert "Ở địa bàn nào?" in said and f"1. {mine.name}" in said
    assert "Báo cáo cho kỳ nào?" in await say("1")
    said = await say("thang 11")
    assert "Đạt được bao nhiêu?" in said and "(đơn vị: hộ)" in said
    await say("12 ho")
    for _ in range(3):
        said = await say("bỏ qua")
    assert "Kiểm tra lại Báo cáo nhanh tiến độ:" in said
    assert "- Dự án: Dự án 1:" in said and "- Số lượng: 12 hộ" in said
    assert "- Kỳ báo cáo: tháng 11/" in said
    assert f"- Địa bàn: {mine.name}" in said
    # The shipped area tree: a former commune's name finds the commune it is part of now.
    await say(payload="/form edit")
    await say(payload="/form f area")
    said = await say("ba thanh")
    assert "Đã chọn xã Ba Thành cũ, nay là xã Ba Động." in said
    assert "- Địa bàn: xã Ba Động" in said

    await say("/phananh", sender="ship2")
    said = await say(payload="/consent yes", sender="ship2")
    assert "Bạn muốn phản ánh về việc gì?" in said and "Về trợ lý Làng Số này" in said
    await say("1", sender="ship2")
    # The description never answers a question: a complaint is often phrased as one.
    said = await say("ho tro lam nha bao nhieu", sender="ship2")
    assert "Gửi một ảnh (nếu có)." in said and "40 triệu" not in said


async def test_other_languages_fall_back_to_vietnamese_prompts(chat):
    from bot.flows.forms.schema import text_for

    assert text_for({"vi": "Tên?", "en": "Name?"}, "hre") == "Tên?"
    assert text_for({"vi": "Tên?", "en": "Name?"}, "en") == "Name?"
    await chat("@form types {}", lang="hre")
    assert "Tên của bạn?" in chat.text and "Your name?" not in chat.text
    await chat("An", lang="hre")
    await chat("nhiều", lang="hre")
    assert "Nhập một số, ví dụ 12." in chat.text  # the UI catalog falls back the same way


async def test_a_photo_where_text_is_asked_for_says_so(chat):
    await chat.start("types", name="An", households=1, amount=1)
    await chat(media=(PHOTO,))
    assert "Tôi cần câu trả lời bằng chữ cho câu này." in chat.text
    assert "Loại hỗ trợ nước?" in chat.text
    await chat(location=Location(15.0, 108.0))
    assert (await state_of(chat.pipeline.services, chat.sender))["step"] == "water"


async def test_back_while_editing_returns_to_the_summary_unchanged(chat):
    await chat.start("types", **BEFORE)
    await chat("bỏ qua")  # the summary
    await chat(payload="/form edit")
    await chat(payload="/form f households")
    await chat("quay lại")
    assert "Kiểm tra lại Phiếu thử:" in chat.text and "- Số hộ: 3 hộ" in chat.text
    await chat(payload="/form edit")
    await chat("quay lại")  # from the list of fields: the summary
    assert "Kiểm tra lại Phiếu thử:" in chat.text
    await chat("gửi")
    assert chat.submitted()[0]["households"] == 3
