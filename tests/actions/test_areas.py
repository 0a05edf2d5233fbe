"""What a former commune is now, and what a commune was made of: read from the area tree
(content/areas.yml), before the NLU. Before this, "xã Ba Thành giờ thuộc xã nào" got the brocade
item's facts (it mentions xã Ba Thành)."""

from __future__ import annotations

import pytest

from tests.conftest import all_text, message


@pytest.mark.parametrize(
    "text", ["xã Ba Thành giờ thuộc xã nào", "ba thanh gio la xa nao", "Xa Ba Thanh con ko"]
)
async def test_a_former_commune_is_told_what_it_is_now(pipeline, text: str) -> None:
    turn = await pipeline.handle(message(text, lang="vi"))
    said = all_text(turn)
    assert turn.intent == "ask_policy" and "ask_area" in turn.actions
    assert "Xã Ba Thành cũ, nay là xã Ba Động (mã 21496)." in said
    assert "Nguồn: Nghị quyết 1677/NQ-UBTVQH15 ngày 16/06/2025" in said


async def test_a_commune_split_in_parts_names_each_part(pipeline) -> None:
    said = all_text(await pipeline.handle(message("xa tra bui sap nhap vao dau", lang="vi")))
    assert "Xã Trà Bùi cũ (một phần), nay là xã Cà Đam" in said
    assert "Xã Trà Bùi cũ (phần còn lại), nay là xã Tây Trà Bồng" in said


async def test_a_commune_lists_what_merged_into_it(pipeline) -> None:
    said = all_text(await pipeline.handle(message("xã Ba Động gồm những xã nào", lang="vi")))
    assert "Các đơn vị cũ nhập vào xã Ba Động (mã 21496): xã Ba Liên, xã Ba Thành." in said


async def test_a_former_district_gets_the_reorganisation_item(pipeline) -> None:
    # There is a xã Sơn Tây; "huyện Sơn Tây" is the district, which is gone.
    turn = await pipeline.handle(message("huyện Sơn Tây giờ thuộc về đâu", lang="vi"))
    assert (turn.intent, turn.answer_id) == ("ask_policy", "programme.admin_changes")
    assert "ask_area" in turn.actions
    assert "xã Sơn Tây" not in all_text(turn)


@pytest.mark.parametrize("text", ["thổ cẩm làng Teng ở xã Ba Thành", "hỗ trợ làm nhà"])
async def test_a_place_named_in_another_question_goes_to_the_nlu(pipeline, text: str) -> None:
    assert "ask_area" not in (await pipeline.handle(message(text, lang="vi"))).actions
