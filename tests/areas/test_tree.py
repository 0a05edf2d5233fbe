"""The area tree built from the official commune list: 96 communes with their official codes,
former names read from every note (never invented), found by a typed name without diacritics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot import areas_build as ab
from bot.areas import AreaTree, tree_of
from bot.content import load_areas, load_content

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "content" / "sources" / "quang-ngai-communes-2025.json"
CONTENT = ROOT / "content"


@pytest.fixture(scope="module")
def official() -> dict:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tree() -> AreaTree:
    problems: list = []
    areas = load_areas(CONTENT, problems)
    assert problems == []
    return tree_of(areas)


def test_the_shipped_tree_has_the_96_communes_with_their_official_codes(tree, official):
    communes = [a for a in tree.areas if a.level == "commune"]
    assert len(communes) == 96
    assert {a.official_code for a in communes} == set(official)
    for a in communes:
        entry = official[a.official_code]
        assert a.name.lower() == entry["name"].lower()  # "xã Ba Động" / "Xã Ba Động"
        assert a.parent == "qng"
        assert re.fullmatch(r"qng\.[a-z0-9]+(_[a-z0-9]+)*", a.code)
    tails = [a.code.rsplit(".", 1)[1] for a in communes]
    assert len(set(tails)) == len(tails)  # unique per level
    assert tree.get("qng").official_code == "51"


def test_names_that_fold_alike_keep_apart_by_official_code(tree):
    assert tree.get("qng.ba_to_21484").name == "xã Ba Tơ"
    assert tree.get("qng.ba_to_21523").name == "xã Ba Tô"
    assert tree.get("qng.son_ha_21289").name == "xã Sơn Hà"
    assert tree.get("qng.son_ha_21292").name == "xã Sơn Hạ"
    assert tree.get("ba_to") is None  # ambiguous: never a guess


def test_the_file_is_what_the_build_script_makes(tmp_path):
    """Regenerating from the source gives the committed file byte for byte (villages kept)."""
    current = CONTENT / "areas.yml"
    built = ab.build_tree(SOURCE, current)
    assert ab.render(built.tree, ab.build_header(SOURCE, built)) == current.read_text("utf-8")
    assert built.unparsed == [] and built.dropped == []


def test_every_note_is_parsed_and_every_former_name_is_in_its_note(official):
    total = 0
    for code, entry in official.items():
        parsed = ab.parse_note(entry["note"], ab.full_name(entry))
        assert parsed.unparsed is None, (code, entry["note"])
        assert parsed.unchanged == ("Giữ nguyên" in entry["note"]), code
        if not parsed.unchanged:
            assert parsed.former, code
        for former in parsed.former:
            assert former.name in entry["note"], (code, former)  # never invented
            assert former.type in entry["note"], (code, former)
            total += 1
    assert total > 200


@pytest.mark.parametrize(
    ("note", "name", "former"),
    [
        (
            "Hợp nhất xã Ba Liên, xã Ba Thành và xã Ba Động thành xã Ba Động. Bỏ cấp huyện. "
            "Số: 1677/NQ-UBTVQH15; Ngày: 16/06/2025",
            "xã Ba Động",
            ["xã Ba Liên", "xã Ba Thành", "xã Ba Động"],
        ),
        (  # the type is said once for several names
            "Đổi tên từ xã Trà Bình thành xã Đông Trà Bồng và hợp nhất xã Trà Bình, Trà Phú và "
            "Trà Giang. Bỏ cấp huyện.",
            "xã Đông Trà Bồng",
            ["xã Trà Bình", "xã Trà Phú", "xã Trà Giang"],
        ),
        (  # "các xã", a town, a rename without "thành ..." at the end
            "Thay đổi loại hình. Đổi tên từ thị trấn La Hà thành xã Tư Nghĩa và hợp nhất thị trấn "
            "La Hà và các xã Nghĩa Trung, xã Nghĩa Thương, xã Nghĩa Hòa. Bỏ cấp huyện.",
            "xã Tư Nghĩa",
            ["thị trấn La Hà", "xã Nghĩa Trung", "xã Nghĩa Thương", "xã Nghĩa Hòa"],
        ),
        (
            "Sắp xếp toàn bộ diện tích tự nhiên, quy mô dân số của huyện Lý Sơn thành đặc khu "
            "có tên gọi là đặc khu Lý Sơn. Bỏ cấp huyện.",
            "đặc khu Lý Sơn",
            ["huyện Lý Sơn"],
        ),
        ("Giữ nguyên, không thực hiện sắp xếp. Bỏ cấp huyện.", "xã Ba Xa", []),
    ],
)
def test_note_grammar(note, name, former):
    parsed = ab.parse_note(note, name)
    assert parsed.unparsed is None
    assert [f.full for f in parsed.former] == former


def test_a_part_of_a_former_commune_is_marked():
    parsed = ab.parse_note(
        "Đổi tên từ xã Trà Tân thành xã Cà Đam và hợp nhất xã Trà Tân và một phần xã Trà Bùi.",
        "xã Cà Đam",
    )
    assert [(f.full, f.part) for f in parsed.former] == [
        ("xã Trà Tân", ""),
        ("xã Trà Bùi", "một phần"),
    ]


@pytest.mark.parametrize(
    "note",
    [
        "Thành lập mới trên cơ sở điều chỉnh địa giới.",  # another grammar: reported
        "Hợp nhất xã ba liên và xã Ba Động thành xã Ba Động.",  # a name not capitalised
        "Hợp nhất Ba Liên và xã Ba Động thành xã Ba Động.",  # a name without a type
        "Hợp nhất xã Ba Liên và xã Ba Động thành xã Ba Động. Điều chỉnh thêm.",  # two sentences
    ],
)
def test_a_note_outside_the_grammar_is_reported_not_guessed(note):
    parsed = ab.parse_note(note, "xã Ba Động")
    assert parsed.unparsed is not None
    assert parsed.former == []


def test_the_source_disagreeing_with_itself_is_remarked(official):
    parsed = ab.parse_note(official["23377"]["note"], "xã Bờ Y")  # the note says "xã Pờ Y"
    assert any("Pờ Y" in r for r in parsed.remarks)
    header = (CONTENT / "areas.yml").read_text("utf-8").split("\nareas:")[0]
    assert "bo_y (xã Bờ Y)" in header and "binh_son (xã Bình Sơn)" in header


def test_every_alias_finds_its_commune(tree):
    n = 0
    for area in tree.areas:
        for alias in area.aliases:
            found = tree.search(alias)
            assert any(m.area is area and m.alias == alias for m in found), (area.code, alias)
            assert [m.area for m in found].count(area) == 1
            n += 1
    assert n > 150


@pytest.mark.parametrize("typed", ["xa Ba Thanh", "ba thanh", "Xã Ba Thành", "BA THANH", "ba th"])
def test_a_former_name_finds_the_new_commune(tree, typed):
    first = tree.search(typed)[0]
    assert first.area.code == "qng.ba_dong"
    assert first.describe() == "xã Ba Thành cũ, nay là xã Ba Động"


def test_search_ranks_the_current_name_first_and_says_split_communes(tree):
    found = tree.search("nguyen nghiem")
    assert found[0].area.code == "qng.nguyen_nghiem" and found[0].alias is None
    assert {m.area.code for m in found[1:]} == {"qng.cam_thanh", "qng.duc_pho"}
    split = {m.area.code: m.describe() for m in tree.search("tra bui")}
    assert split == {
        "qng.ca_dam": "xã Trà Bùi cũ (một phần), nay là xã Cà Đam",
        "qng.tay_tra_bong": "xã Trà Bùi cũ (phần còn lại), nay là xã Tây Trà Bồng",
    }
    assert tree.search("ba dong")[0].describe() == "xã Ba Động"
    assert tree.search("") == [] and tree.search("zzz") == []
    assert [m.area.code for m in tree.search("lang teng")] == ["qng.ba_dong.lang_teng"]
    assert tree.search("teng", levels=("commune",)) == []


def test_lookups_and_subtrees(tree):
    assert tree.get("21496").code == "qng.ba_dong" == tree.get("ba_dong").code
    assert [a.code for a in tree.subtree("qng.ba_dong")] == [
        "qng.ba_dong",
        "qng.ba_dong.lang_teng",
    ]
    assert [a.code for a in tree.path("qng.ba_dong.lang_teng")] == [
        "qng",
        "qng.ba_dong",
        "qng.ba_dong.lang_teng",
    ]
    assert len(tree.children("qng")) == 96
    assert tree.within("qng.ba_dong.lang_teng", "qng.ba_dong")
    assert not tree.within("qng.ba_dong2", "qng.ba_dong")
    village = tree.get("qng.ba_dong.lang_teng")
    assert "content-brief.md" in village.source and village.level == "village"


def test_content_check_is_clean_and_no_old_area_code_is_left():
    content = load_content(CONTENT)
    assert [p for p in content.problems if "areas" in p.file] == []
    codes = {a.code for a in content.areas}
    assert "qng.ba_thanh" not in codes and "qng.ba_thanh.lang_teng" not in codes


def test_bad_area_nodes_are_problems(tmp_path):
    (tmp_path / "areas.yml").write_text(
        "areas:\n  - code: qng\n    name: x\n    children:\n"
        "      - {code: Ba-Dong, name: y}\n"
        "      - {code: ok, name: z, aliases: [1, 2]}\n",
        encoding="utf-8",
    )
    problems: list = []
    load_areas(tmp_path, problems)
    assert len(problems) == 2


@pytest.mark.parametrize(
    ("typed", "first", "second"),
    [
        ("Ba Tô", "qng.ba_to_21523", "qng.ba_to_21484"),
        ("xã Ba Tơ", "qng.ba_to_21484", "qng.ba_to_21523"),
        ("Sơn Hạ", "qng.son_ha_21292", "qng.son_ha_21289"),
        ("son ha", "qng.son_ha_21289", "qng.son_ha_21292"),  # without diacritics: both, in order
    ],
)
def test_typed_diacritics_break_a_tie(tree, typed, first, second):
    assert [m.area.code for m in tree.search(typed)][:2] == [first, second]


def test_every_commune_comes_first_by_its_own_name(tree):
    for area in tree.areas:
        for typed in (area.name, area.name.split(" ", 1)[-1] if area.level != "village" else ""):
            if typed:
                assert tree.search(typed)[0].area is area, typed
                assert tree.search(typed)[0].alias is None


def test_mentions_finds_whole_names_in_a_sentence() -> None:
    from bot.areas import areas_of
    from bot.content import load_content

    tree = areas_of(load_content(Path(__file__).resolve().parents[2] / "content"))

    def said(text: str) -> list[str]:
        return [m.describe() for m in tree.mentions(text)]

    assert said("xã Ba Thành giờ thuộc xã nào") == ["xã Ba Thành cũ, nay là xã Ba Động"]
    assert said("ba thanh gio la xa nao") == ["xã Ba Thành cũ, nay là xã Ba Động"]
    assert len(said("xa tra bui sap nhap vao dau")) == 2  # merged in two parts
    assert said("huyện Sơn Tây giờ ở đâu") == []  # a district, not xã Sơn Tây
    assert said("xã Sơn Tây") == ["xã Sơn Tây"]
    assert said("Tây") == [] and said("ba") == []  # one word alone is no place
