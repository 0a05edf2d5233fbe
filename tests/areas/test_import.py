"""`python -m bot areas import FILE` (CSV, XLSX), `areas list`, `areas build-from` keeping the
imported villages: a bad row is reported with its number and then nothing is written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.__main__ import main
from bot.areas import AreaTree
from bot.content import load_areas

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "content" / "sources" / "quang-ngai-communes-2025.json"


@pytest.fixture
def areas_file(tmp_path: Path) -> Path:
    path = tmp_path / "content" / "areas.yml"
    path.parent.mkdir()
    shutil.copy(ROOT / "content" / "areas.yml", path)
    return path


def tree(path: Path) -> AreaTree:
    problems: list = []
    areas = load_areas(path.parent, problems)
    assert problems == []
    return AreaTree(areas)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_villages_are_imported_under_their_commune(areas_file, tmp_path, capsys):
    src = write_csv(
        tmp_path / "thon.csv",
        "code,name,level,parent\n"
        "thon_1,Thôn 1,thôn,qng.ba_dong\n"
        ",Thôn Gò Rin,village,21496\n"  # no code: made from the name; parent by official code
        "lang_a,Làng A,làng,qng.tra_bong\n",
    )
    assert main(["areas", "import", str(src), "--file", str(areas_file)]) == 0
    assert "3 added" in capsys.readouterr().out
    t = tree(areas_file)
    assert t.get("qng.ba_dong.thon_1").name == "Thôn 1"
    assert t.get("qng.ba_dong.thon_go_rin").parent == "qng.ba_dong"
    assert t.get("qng.tra_bong.lang_a").level == "village"
    assert t.get("qng.ba_dong.lang_teng") is not None  # what was there stays
    assert len([a for a in t.areas if a.level == "commune"]) == 96
    assert areas_file.read_text("utf-8").startswith("# Cây địa bàn")  # the header kept
    # Importing again changes nothing; a changed name is an update.
    write_csv(src, "code,name,level,parent\nthon_1,Thôn Một,village,qng.ba_dong\n")
    assert main(["areas", "import", str(src), "--file", str(areas_file)]) == 0
    assert "0 added, 1 changed" in capsys.readouterr().out
    assert tree(areas_file).get("qng.ba_dong.thon_1").name == "Thôn Một"


def test_xlsx_villages_are_imported(areas_file, tmp_path, capsys):
    book = Workbook()
    sheet = book.active
    sheet.append(["Code", "Name", "Level", "Parent"])
    sheet.append(["thon_3", "Thôn 3", "village", "qng.son_tay"])
    sheet.append([None, None, None, None])  # an empty row is skipped
    sheet.append(["thon_4", "Thôn 4", "thon", "23340"])  # no such official code
    sheet.append(["thon_5", "Thôn 5", "village", "qng.son_tay"])
    book.save(tmp_path / "thon.xlsx")
    before = areas_file.read_bytes()
    assert main(["areas", "import", str(tmp_path / "thon.xlsx"), "--file", str(areas_file)]) == 1
    err = capsys.readouterr().err
    assert "row 4: `parent` '23340'" in err and "nothing imported" in err
    assert areas_file.read_bytes() == before  # the good rows were not written either
    sheet["D4"] = "23340".replace("23340", "qng.son_tay")
    book.save(tmp_path / "thon.xlsx")
    assert main(["areas", "import", str(tmp_path / "thon.xlsx"), "--file", str(areas_file)]) == 0
    t = tree(areas_file)
    assert [a.code for a in t.subtree("qng.son_tay")] == [
        "qng.son_tay",
        "qng.son_tay.thon_3",
        "qng.son_tay.thon_4",
        "qng.son_tay.thon_5",
    ]


def test_every_bad_row_is_reported_by_line_and_nothing_is_half_imported(
    areas_file, tmp_path, capsys
):
    src = write_csv(
        tmp_path / "bad.csv",
        "code,name,level,parent\n"  # line 1
        "thon_1,Thôn 1,village,qng.ba_dong\n"  # 2: good
        "thon_2,,village,qng.ba_dong\n"  # 3: no name
        "Thon-3,Thôn 3,village,qng.ba_dong\n"  # 4: not a code
        "thon_4,Thôn 4,village,qng.ba_thanh\n"  # 5: the old commune is gone
        "thon_1,Thôn 1 lần nữa,village,qng.ba_dong\n"  # 6: twice
        "thon_5,Thôn 5,tỉnh,qng.ba_dong\n"  # 7: not a level
        "thon_6,Thôn 6,village,qng.ba_dong.lang_teng\n"  # 8: a village under a village
        '"thon_7","Thôn 7, ""xóm"" trên",village,qng.ba_dong\n',  # 9: good (quoted)
    )
    before = areas_file.read_bytes()
    assert main(["areas", "import", str(src), "--file", str(areas_file)]) == 1
    err = capsys.readouterr().err
    for line in (3, 4, 5, 6, 7, 8):
        assert f"bad.csv: line {line}: " in err
    assert "line 2:" not in err and "line 9:" not in err
    assert "already on line 2" in err
    assert areas_file.read_bytes() == before
    assert not list(areas_file.parent.glob(".areas.yml.*"))  # no temporary file left


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        ("no_header.csv", "a,b\nx,y\n", "header row needs the columns"),
        ("latin1.csv", None, "not UTF-8"),
        ("thon.ods", "x", "expected a .csv or .xlsx"),
        ("broken.xlsx", "not a zip", "not a readable XLSX"),
    ],
)
def test_unreadable_files_say_what_to_do(areas_file, tmp_path, capsys, name, body, says):
    path = tmp_path / name
    if body is None:
        path.write_bytes("code,name,level,parent\nt,Thôn,village,qng.ba_dong\n".encode("cp1258"))
    else:
        path.write_text(body, encoding="utf-8")
    before = areas_file.read_bytes()
    assert main(["areas", "import", str(path), "--file", str(areas_file)]) == 1
    assert says in capsys.readouterr().err
    assert areas_file.read_bytes() == before


def test_areas_list_prints_one_area_a_line_dotted_code_first(areas_file, capsys):
    assert main(["areas", "list", "--file", str(areas_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 96 + 1
    assert lines[0].split("\t") == ["qng", "tỉnh Quảng Ngãi", "province", "51"]
    assert "qng.ba_dong\txã Ba Động\tcommune\t21496" in lines
    assert "qng.ba_dong.lang_teng\tLàng Teng\tvillage" in lines
    assert all(line.split("\t")[0].startswith("qng") for line in lines)
    assert main(["areas", "list", "qng.ba_dong", "--aliases", "--file", str(areas_file)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "qng.ba_dong\txã Ba Động\tcommune\t21496\tcũ: xã Ba Liên, xã Ba Thành",
        "qng.ba_dong.lang_teng\tLàng Teng\tvillage",
    ]
    assert main(["areas", "find", "xa", "ba", "thanh", "--file", str(areas_file)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "qng.ba_dong\txã Ba Thành cũ, nay là xã Ba Động"
    )


def test_build_from_keeps_imported_villages(areas_file, tmp_path, capsys):
    src = write_csv(tmp_path / "t.csv", "code,name,level,parent\nthon_9,Thôn 9,village,21034\n")
    assert main(["areas", "import", str(src), "--file", str(areas_file)]) == 0
    assert main(["areas", "build-from", str(SOURCE), "--file", str(areas_file)]) == 0
    assert "2 villages kept" in capsys.readouterr().out
    t = tree(areas_file)
    assert t.get("qng.an_phu.thon_9").name == "Thôn 9"
    assert t.get("qng.ba_dong.lang_teng") is not None
